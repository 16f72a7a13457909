package oidcop

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"

	"github.com/cedula/cedula/issuer"
)

// publicSector is the sector of clients configured for public subjects.
const publicSector = "public"

// subjectSector is the sector whose subject identifier client c sees.
func subjectSector(c issuer.Client) string {
	if c.SubjectType == issuer.SubjectPublic {
		return publicSector
	}
	return "sector:" + c.Sector()
}

// subject computes the identifier a sector sees for a citizen: an HMAC of
// the sector and the citizen's internal ID under a server secret, so that
// agencies in different sectors cannot correlate their users (OIDC Core
// §8.1) and nobody without the secret can compute or reverse it.
func subject(secret []byte, sector, citizenID string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(sector))
	m.Write([]byte{0})
	m.Write([]byte(citizenID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// SubjectCitizen returns the citizen that client clientID knows as sub, in
// the client's sector: issuer.ErrNotFound when the client is unknown or no
// citizen with that identifier logged in to a client of the sector. The
// client's registration comes from the client cache: every consent
// decision asks this, and reading the registration from the database took
// an eighth of the decision's CPU.
func (p *Provider) SubjectCitizen(ctx context.Context, clientID, sub string) (string, error) {
	c, err := p.st.clientByID(ctx, clientID)
	if err != nil {
		return "", err
	}
	return p.st.store.SubjectCitizen(ctx, SubjectSector(c), sub)
}

// SubjectSector names the sector whose subject identifiers client c sees:
// the sector of Subjects.PutSubject and SubjectCitizen.
func SubjectSector(c issuer.Client) string { return subjectSector(c) }
