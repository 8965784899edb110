//go:build race

package explorer_test

// raceEnabled: the browser test does not run again under the race
// detector: the browser is not our concurrency, and the server side runs
// under it in TestReadAPI.
const raceEnabled = true
