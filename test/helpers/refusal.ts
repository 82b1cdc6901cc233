import { CoreflowError } from '../../ts/errors.ts';

/** The CoreflowError `fn` throws; fails the test when it throws nothing or something else. */
export function refusal(fn: () => unknown): CoreflowError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CoreflowError) return err;
    throw err;
  }
  throw new Error('expected a refusal (CoreflowError), got none');
}

/** The CoreflowError `p` rejects with; fails the test when it resolves or rejects with something else. */
export async function refusalOf(p: Promise<unknown>): Promise<CoreflowError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CoreflowError) return err;
    throw err;
  }
  throw new Error('expected a refusal (CoreflowError), got none');
}
