// Package pgstore is the PostgreSQL store.Store, shared by any number of
// Perdure nodes.
package pgstore
