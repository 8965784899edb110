package blocklog

// Exported for the external tests.
var NewStoreForTest = newStore

const RecordMagic = recordMagic
