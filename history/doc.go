// Package history keeps every conversation in SQLite (pure Go, WAL mode):
// chats, messages, full-text search, export, and a cache of model KV
// states so a resumed chat need not be re-processed.
package history
