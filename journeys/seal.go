package journeys

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
)

// Messages citizens can trust. Every message Cedula sends a citizen on an
// agency's behalf is sealed: signed with the agency's key (a ring of
// internal/keys per agency) and given a short verification code printed at
// its end. Anyone can check a code — and, if they paste it, the message's
// text — on the public check page or API without logging in: the answer
// names the agency and when it sent it, or says plainly that the message
// is not ours. The seal's record holds no personal data: the code's MAC,
// the agency, the time and the signed seal, whose text digest is a MAC
// under the server's secret (a digest anyone could compute would let a
// guess of a short message be confirmed).

// SealType is the typ of a seal (a JWS).
const SealType = "cedula-message+jwt"

// CodeLen is how many symbols a verification code has: 12 Crockford
// base32 symbols, 60 random bits, shown as three groups of four.
const CodeLen = 12

// MaxMessage bounds a message to seal and a text to check.
const MaxMessage = 16 << 10

// Errors of sealing and checking.
var (
	ErrNotFound = errors.New("journeys: not found")
	// ErrInvalid: a message to seal is empty or too long.
	ErrInvalid = errors.New("journeys: invalid message")
)

// Message is what an agency sends a citizen, in one language.
type Message struct {
	Agency  string // the agency's client ID
	Lang    string // es or en
	Subject string // may be empty (an SMS has none)
	Body    string
}

// Sealed is a sealed message, ready to send.
type Sealed struct {
	Code string // the verification code, as shown: XXXX-XXXX-XXXX
	// Text is the body with the verification footer in the message's
	// language.
	Text string
	// Seal is the signed seal, for the wallet to show a verified sender.
	Seal string
	Sent time.Time
}

// SealRecord is a seal as stored.
type SealRecord struct {
	CodeMAC []byte // MAC of the normalized code: the key
	Agency  string
	Sent    time.Time
	Seal    string
}

// SealStore keeps seals.
type SealStore interface {
	// PutSeal stores r; ErrExists-like failures are the store's error.
	PutSeal(ctx context.Context, r SealRecord) error
	// Seal returns the record of a code's MAC, or ErrNotFound.
	Seal(ctx context.Context, codeMAC []byte) (SealRecord, error)
}

// Seals seals messages and checks them.
type Seals struct {
	keys   keys.Manager
	store  SealStore
	macKey []byte
	host   string // the public check page's host, named in the footer
	now    func() time.Time
}

// NewSeals makes the sealer over km and store; secret (the server's, at
// least 32 bytes) keys the MACs; publicURL is the server's.
func NewSeals(km keys.Manager, store SealStore, secret []byte, publicURL string, now func() time.Time) (*Seals, error) {
	if km == nil || store == nil || len(secret) < 32 {
		return nil, errors.New("journeys: seals need keys, a store and a secret of 32 bytes or more")
	}
	if now == nil {
		now = time.Now
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("cedula-journeys-seal-mac"))
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(publicURL, "https://"), "http://"), "/")
	return &Seals{keys: km, store: store, macKey: m.Sum(nil), host: host, now: now}, nil
}

// SealRing is the key ring an agency's messages are signed with.
func SealRing(agency string) string { return "messages-" + agency }

// seal is a seal's payload.
type seal struct {
	Iss  string `json:"iss"`  // the agency
	Iat  int64  `json:"iat"`  // when sent
	Code string `json:"code"` // the normalized code
	Lang string `json:"lang"`
	// Text is the MAC of the body, normalized (textMAC).
	Text string `json:"text"`
}

// footers end every message with its code, in its language. The check
// page is named, not linked: messages carry no links.
var footers = map[string]string{
	"es": "Código de verificación: %s. Compruebe que este mensaje es auténtico en %s/check. Nunca le pediremos que inicie sesión desde un mensaje.",
	"en": "Verification code: %s. Check that this message is genuine at %s/check. We never ask you to log in from a message.",
}

// Seal signs m with its agency's key, stores the seal and returns the
// text to send with its verification code.
func (s *Seals) Seal(ctx context.Context, m Message) (Sealed, error) {
	footer, ok := footers[m.Lang]
	switch {
	case !ok:
		return Sealed{}, fmt.Errorf("%w: language %q is not es or en", ErrInvalid, m.Lang)
	case strings.TrimSpace(m.Body) == "" || len(m.Body)+len(m.Subject) > MaxMessage:
		return Sealed{}, fmt.Errorf("%w: the body is empty or the message longer than %d bytes", ErrInvalid, MaxMessage)
	case m.Agency == "":
		return Sealed{}, fmt.Errorf("%w: no agency", ErrInvalid)
	}
	code := newCode()
	now := s.now().UTC().Truncate(time.Second)
	k, err := s.keys.Active(ctx, SealRing(m.Agency), keys.ES256)
	if err != nil {
		return Sealed{}, err
	}
	jws, err := jose.SignJSON(ctx, k, seal{Iss: m.Agency, Iat: now.Unix(), Code: code, Lang: m.Lang, Text: s.textMAC(m.Body)},
		map[string]any{"typ": SealType})
	if err != nil {
		return Sealed{}, err
	}
	if err := s.store.PutSeal(ctx, SealRecord{CodeMAC: s.codeMAC(code), Agency: m.Agency, Sent: now, Seal: jws}); err != nil {
		return Sealed{}, err
	}
	shown := code[0:4] + "-" + code[4:8] + "-" + code[8:12]
	return Sealed{Code: shown, Text: strings.TrimRight(m.Body, " \n") + "\n\n" + fmt.Sprintf(footer, shown, s.host), Seal: jws, Sent: now}, nil
}

// Verdict is what a check says.
type Verdict struct {
	// Genuine: the code is one Cedula gave a message, and its seal
	// verifies with the agency's key.
	Genuine bool
	Agency  string
	Sent    time.Time
	Lang    string
	// TextMatches says, when a text was given, whether it is the message
	// sent with that code (nil without a text).
	TextMatches *bool
}

// codePattern finds a code in a pasted message.
var codePattern = regexp.MustCompile(`(?i)\b([0-9A-Z]{4})[- ]?([0-9A-Z]{4})[- ]?([0-9A-Z]{4})\b`)

// Check says whether code (or, when code is empty, the code found in
// text) is one of Cedula's, and whether text, when given, is the message
// sent with it. A code that is malformed or unknown is simply not ours.
func (s *Seals) Check(ctx context.Context, code, text string) (Verdict, error) {
	if len(code) > 64 || len(text) > MaxMessage {
		return Verdict{}, nil
	}
	if strings.TrimSpace(code) == "" {
		for _, m := range codePattern.FindAllStringSubmatch(afterMarker(text), -1) {
			if c, ok := normalizeCode(m[1] + m[2] + m[3]); ok {
				code = c
				break
			}
		}
	}
	c, ok := normalizeCode(code)
	if !ok {
		return Verdict{}, nil
	}
	rec, err := s.store.Seal(ctx, s.codeMAC(c))
	if errors.Is(err, ErrNotFound) {
		return Verdict{}, nil
	} else if err != nil {
		return Verdict{}, err
	}
	pubs, err := s.keys.Verification(ctx, SealRing(rec.Agency))
	if err != nil {
		return Verdict{}, err
	}
	jwks, err := jose.JWKS(pubs...)
	if err != nil {
		return Verdict{}, err
	}
	payload, err := jose.Verify([]byte(rec.Seal), jwks, keys.ES256)
	var p seal
	if err != nil || json.Unmarshal(payload, &p) != nil || p.Code != c || p.Iss != rec.Agency {
		// A seal that does not verify is not a message of ours, whatever
		// the table says.
		return Verdict{}, nil
	}
	v := Verdict{Genuine: true, Agency: rec.Agency, Sent: time.Unix(p.Iat, 0).UTC(), Lang: p.Lang}
	if strings.TrimSpace(text) != "" {
		match := hmac.Equal([]byte(s.textMAC(bodyOf(text))), []byte(p.Text))
		v.TextMatches = &match
	}
	return v, nil
}

// crockford is Crockford's base32 alphabet.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

func newCode() string {
	b := make([]byte, CodeLen)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = crockford[b[i]&31]
	}
	return string(b)
}

// normalizeCode reads a code as a person may type it: any case, with
// spaces or hyphens, O for 0 and I or L for 1 (Crockford).
func normalizeCode(in string) (string, bool) {
	var out []byte
	for _, r := range strings.ToUpper(in) {
		switch {
		case r == '-' || unicode.IsSpace(r):
			continue
		case r == 'O':
			r = '0'
		case r == 'I' || r == 'L':
			r = '1'
		}
		if r > unicode.MaxASCII || !strings.ContainsRune(crockford, r) {
			return "", false
		}
		out = append(out, byte(r))
	}
	return string(out), len(out) == CodeLen
}

func (s *Seals) mac(kind string, data string) []byte {
	m := hmac.New(sha256.New, s.macKey)
	m.Write([]byte(kind + "\x00" + data))
	return m.Sum(nil)
}

func (s *Seals) codeMAC(code string) []byte { return s.mac("code", code) }

func (s *Seals) textMAC(body string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("text", normalizeText(body)))
}

// normalizeText makes a text comparable however it travelled: Unicode NFC,
// every run of white space one space, no space at the ends.
func normalizeText(t string) string {
	return strings.Join(strings.Fields(norm.NFC.String(t)), " ")
}

// markers open the footer in each language.
var markers = []string{"Código de verificación:", "Verification code:"}

// bodyOf is a pasted message without its footer.
func bodyOf(text string) string {
	for _, m := range markers {
		if i := strings.Index(text, m); i >= 0 {
			text = text[:i]
		}
	}
	return text
}

// afterMarker is where to look for a code in a pasted message: after the
// footer's marker when it has one.
func afterMarker(text string) string {
	for _, m := range markers {
		if i := strings.Index(text, m); i >= 0 {
			return text[i+len(m):]
		}
	}
	return text
}
