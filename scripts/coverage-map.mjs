// tap's coverage map: whatever test runs, coverage is recorded for the sources under ts/ only
// (never for test helpers, fakes or scripts).
export default () => ['ts/**/*.ts'];
