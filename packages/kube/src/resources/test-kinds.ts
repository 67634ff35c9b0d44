/** Tests' discovery: kinds as `readResourceList` reads them from a small cluster. */
import { readResourceList, type ApiKind } from './kinds.ts';

const ALL = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
/** What a small cluster's discovery serves: core kinds, Deployments, two Events, a CRD. */
export const SERVED: readonly ApiKind[] = [
  ...readResourceList('', 'v1', {
    resources: [
      {
        name: 'configmaps',
        singularName: 'configmap',
        namespaced: true,
        kind: 'ConfigMap',
        verbs: ALL,
        shortNames: ['cm'],
      },
      {
        name: 'events',
        singularName: 'event',
        namespaced: true,
        kind: 'Event',
        verbs: ALL,
        shortNames: ['ev'],
      },
      { name: 'secrets', singularName: 'secret', namespaced: true, kind: 'Secret', verbs: ALL },
      {
        name: 'namespaces',
        singularName: 'namespace',
        namespaced: false,
        kind: 'Namespace',
        verbs: ALL,
        shortNames: ['ns'],
      },
      { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
      {
        name: 'bindings',
        singularName: 'binding',
        namespaced: true,
        kind: 'Binding',
        verbs: ['create'],
      },
    ],
  }),
  ...readResourceList('apps', 'v1', {
    resources: [
      {
        name: 'deployments',
        singularName: 'deployment',
        namespaced: true,
        kind: 'Deployment',
        verbs: ALL,
        shortNames: ['deploy'],
      },
    ],
  }),
  ...readResourceList('events.k8s.io', 'v1', {
    resources: [
      {
        name: 'events',
        singularName: 'event',
        namespaced: true,
        kind: 'Event',
        verbs: ALL,
        shortNames: ['ev'],
      },
    ],
  }),
  ...readResourceList('example.com', 'v1alpha1', {
    resources: [
      {
        name: 'widgets',
        singularName: 'widget',
        namespaced: true,
        kind: 'Widget',
        verbs: ALL,
        shortNames: ['wg'],
      },
    ],
  }),
];
