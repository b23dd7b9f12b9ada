package queue

// keyCustodyMigration is schema step 10 (see schema.go).
const keyCustodyMigration = `CREATE TABLE key_wraps (
		gen        INTEGER NOT NULL,
		slot       TEXT    NOT NULL CHECK (slot IN ('pending','recovery')),
		wrapped    BLOB    NOT NULL,
		created_at INTEGER NOT NULL,
		PRIMARY KEY (gen, slot)
	);
	CREATE TABLE recovery_keys (
		id         INTEGER PRIMARY KEY,
		pub_sealed BLOB    NOT NULL,
		created_at INTEGER NOT NULL
	);`
