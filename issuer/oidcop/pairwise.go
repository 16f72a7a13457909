package oidcop

import "github.com/cedula/cedula/issuer"

// PairwiseSubject returns the sector whose identifiers client c sees and
// the identifier by which it knows citizenID, under the server secret
// (Config.Secret): what the provider stores at a login (OIDC Core §8.1),
// for tools that load citizens in bulk (cedula bench seed).
func PairwiseSubject(serverSecret []byte, c issuer.Client, citizenID string) (sector, sub string) {
	sector = subjectSector(c)
	return sector, subject(derive(serverSecret, "pairwise"), sector, citizenID)
}
