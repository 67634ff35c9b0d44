# PKI and kubeconfigs for the local cluster, made with openssl. Sourced by up.sh.
# shellcheck shell=bash

# sign_cert NAME SUBJECT EXTENSIONS: a 2048-bit RSA key and a cert signed by the cluster CA.
sign_cert() {
  local name=$1 subject=$2 ext=$3
  openssl req -new -nodes -newkey rsa:2048 -keyout "$PKI_DIR/$name.key" \
    -out "$PKI_DIR/$name.csr" -subj "$subject" 2>/dev/null
  openssl x509 -req -in "$PKI_DIR/$name.csr" -CA "$PKI_DIR/ca.crt" -CAkey "$PKI_DIR/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -out "$PKI_DIR/$name.crt" \
    -extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n%b\n' "$ext") \
    2>/dev/null
  rm -f "$PKI_DIR/$name.csr"
}

client_cert() { sign_cert "$1" "$2" 'extendedKeyUsage=clientAuth'; }

# write_kubeconfig FILE CERTNAME: a kubeconfig for the apiserver on loopback with embedded certs.
write_kubeconfig() {
  local file=$1 cert=$2
  local b64='base64 -w0'
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: ksync-local
    cluster:
      server: https://127.0.0.1:6443
      certificate-authority-data: $($b64 <"$PKI_DIR/ca.crt")
users:
  - name: $cert
    user:
      client-certificate-data: $($b64 <"$PKI_DIR/$cert.crt")
      client-key-data: $($b64 <"$PKI_DIR/$cert.key")
contexts:
  - name: ksync-local
    context:
      cluster: ksync-local
      user: $cert
current-context: ksync-local
EOF
  chmod 600 "$file"
}

# One CA signs everything: serving certs, client certs and (via kcm) nothing else.
make_pki() {
  if [[ -f "$PKI_DIR/.done" ]]; then return; fi
  say "generating PKI in $PKI_DIR"
  rm -rf "$PKI_DIR"
  mkdir -p "$PKI_DIR"
  chmod 700 "$PKI_DIR"
  openssl req -x509 -new -nodes -newkey rsa:2048 -keyout "$PKI_DIR/ca.key" -out "$PKI_DIR/ca.crt" \
    -days 3650 -subj "/CN=ksync-local-ca" 2>/dev/null
  # The first service IP (10.96.0.1) and the kubernetes.default names are what in-cluster
  # clients would use; 127.0.0.1/localhost is what everything here actually dials.
  sign_cert apiserver "/CN=kube-apiserver" \
    'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local'
  client_cert admin "/O=system:masters/CN=kubernetes-admin"
  client_cert controller-manager "/CN=system:kube-controller-manager"
  client_cert scheduler "/CN=system:kube-scheduler"
  # Per node: the kubelet's client cert (the Node authorizer only lets a kubelet touch its own
  # node: CN must be system:node:<name>) and its serving cert for its own loopback address,
  # which the apiserver verifies (--kubelet-certificate-authority) for exec, logs, port-forward.
  local n
  for ((n = 1; n <= MAX_NODES; n++)); do
    node_vars "$n"
    client_cert "$NODE_KUBELET" "/O=system:nodes/CN=system:node:$NODE_NAME"
    sign_cert "$NODE_KUBELET-serving" "/CN=system:node:$NODE_NAME" \
      "extendedKeyUsage=serverAuth\nsubjectAltName=IP:$NODE_NAME"
    write_kubeconfig "$STATE_DIR/$NODE_KUBELET.kubeconfig" "$NODE_KUBELET"
  done
  # The apiserver's identity towards the kubelet (exec, logs, port-forward).
  client_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  openssl genrsa -out "$PKI_DIR/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI_DIR/sa.key" -pubout -out "$PKI_DIR/sa.pub" 2>/dev/null

  write_kubeconfig "$STATE_DIR/admin.kubeconfig" admin
  write_kubeconfig "$STATE_DIR/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$STATE_DIR/scheduler.kubeconfig" scheduler
  touch "$PKI_DIR/.done"
}
