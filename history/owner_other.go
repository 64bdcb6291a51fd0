//go:build !unix

package history

// Without flock we cannot see other processes, so replies left streaming by
// another Store are assumed live (a limitation off unix).
type ownerLock struct{}

func acquireOwner(dbPath, token string) (*ownerLock, error) { return &ownerLock{}, nil }
func (l *ownerLock) release()                               {}
func ownerAlive(dbPath, token string) bool                  { return true }
func cleanOwners(dbPath string)                             {}
