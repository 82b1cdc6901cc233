export * from './errors.ts';
export * from './spec/parse.ts';
export type * from './spec/types.ts';
export type * from './reconcile/types.ts';
