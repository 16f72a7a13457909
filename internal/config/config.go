package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration of one `cedula serve` process.
type Config struct {
	// Listen is the TCP address to serve on.
	Listen string `yaml:"listen"`
	// AdminListen is the TCP address of the admin listener, which serves
	// /metrics, pprof and the health probes apart from the public one;
	// "" disables it. Loopback by default: anything else exposes the
	// process's internals to whoever can reach it (see AdminExposed).
	AdminListen string `yaml:"admin_listen"`
	// PublicURL is the issuer identifier and base of every link, without a
	// trailing slash. Its host is the passkey RP ID unless set.
	PublicURL string `yaml:"public_url"`
	// DataDir holds the SQLite file, the local keystore and generated
	// secrets in the embedded mode.
	DataDir string `yaml:"data_dir"`
	// DB is "" (SQLite at DataDir/cedula.db), a SQLite path, or a
	// postgres:// URL.
	DB string `yaml:"db"`
	// Keys is "local" (keystore in DataDir) or vault://HOST:PORT[/MOUNT].
	Keys string `yaml:"keys"`
	// KeyRetention is how long a retired key stays in the JWKS; it must
	// exceed the longest token lifetime.
	KeyRetention Duration `yaml:"key_retention"`
	LogLevel     string   `yaml:"log_level"`
	// Demo registers a demo agency and fictional citizens on start.
	Demo bool `yaml:"demo"`

	Passkeys Passkeys `yaml:"passkeys"`
	Tokens   Tokens   `yaml:"tokens"`
	// EnrolmentTTL is how long an enrolment link stays usable.
	EnrolmentTTL Duration `yaml:"enrolment_ttl"`
	// SessionTTL is how long a login session with Cedula's pages lasts.
	SessionTTL Duration `yaml:"session_ttl"`
	// Clients are agency clients registered at start (created or updated).
	Clients []Client `yaml:"clients"`
	// Purposes is the path of the purpose registry (consent.ParseRegistry),
	// loaded at start: each purpose that changed is stored as a new
	// version. "" keeps the registry as stored.
	Purposes string `yaml:"purposes"`
	// Journeys is the path of journeys defined at start (YAML, a list
	// under "journeys"; see docs/journeys.md); each is checked against its
	// purpose and stored, replacing an earlier definition.
	Journeys string `yaml:"journeys"`
	// AlertAreas is the path of the areas Cedula knows by geocode (YAML,
	// a list under "areas": geocode, names, boundary polygons; see
	// docs/journeys.md), for targeted alerts. "" knows none.
	AlertAreas string `yaml:"alert_areas"`
	// MailRelay (host:port) and MailFrom send journeys' and alerts'
	// messages by email; the relay's user and password come from
	// CEDULA_MAIL_USERNAME and CEDULA_MAIL_PASSWORD. Empty: no email.
	MailRelay string `yaml:"mail_relay"`
	MailFrom  string `yaml:"mail_from"`
	// SMSGateway and PushGateway are the https URLs messages are posted
	// to for SMS and push (the token from CEDULA_GATEWAY_TOKEN). Empty:
	// no SMS, no push.
	SMSGateway  string `yaml:"sms_gateway"`
	PushGateway string `yaml:"push_gateway"`
	// CredentialTypes is the path of the credential types the issuer
	// issues (YAML, issuer/credential.Load); demo mode adds the demo's.
	CredentialTypes string `yaml:"credential_types"`
	// CredentialCertificate is a PEM file with the credential issuer's
	// X.509 certificate chain (leaf first); credentials signed with the
	// key its leaf certifies carry it as x5c.
	CredentialCertificate string `yaml:"credential_certificate"`
	// VerifierTrustAnchors is a PEM file of the CA certificates that
	// verifiers' request objects (OpenID4VP x509_san_dns) must chain to
	// for the wallet to answer them; "" trusts none.
	VerifierTrustAnchors string `yaml:"verifier_trust_anchors"`
	// VerifierSettings is the path of the verifier's settings (YAML,
	// verifier.LoadSettings): the purposes agencies may ask for
	// presentations under and the issuers trusted; demo mode adds the
	// demo's.
	VerifierSettings string `yaml:"verifier_settings"`
	// VerifierCertificate is a PEM file with the verifier's X.509
	// certificate chain (leaf first), whose leaf names the public URL's
	// host and certifies the "verifier" ring's key (OpenID4VP
	// x509_san_dns). "" uses a local CA derived from the server secret
	// (its certificate written to the data directory as verifier-ca.pem),
	// which this server's wallet trusts and other wallets must be given.
	VerifierCertificate string `yaml:"verifier_certificate"`
	// StatusListSize is the number of places in each status list, a
	// power of four (0: 65536).
	StatusListSize int `yaml:"status_list_size"`
	// WalletRedirectURIs are the redirect URIs of the citizens' wallet app
	// (the public client "cedula-wallet" every server registers): its
	// claimed https links or private-use scheme (RFC 8252 §7.1).
	WalletRedirectURIs []string `yaml:"wallet_redirect_uris"`
	// RequirePAR makes every agency push its authorization requests to the
	// PAR endpoint first (RFC 9126 §5); a client can be required to on
	// its own with its require_pushed_authorization_requests.
	RequirePAR bool `yaml:"require_pushed_authorization_requests"`
	// ConsentPreload loads every consent record into the replica's
	// decision cache at start (consent.Config.Preload): decisions never
	// read the database, at about 290 bytes of memory per record and half
	// a minute of start-up per 5 million records. On by default.
	ConsentPreload bool `yaml:"consent_preload"`
	// RateLimits change the limits on attempts at the pages and on each
	// citizen's app; a zero keeps a limit's default.
	RateLimits RateLimits `yaml:"rate_limits"`
	// WalletWatchInterval is how often the server re-reads the status
	// lists of the credentials its wallets hold (any issuer's) and warns
	// of those about to expire, telling the citizens in their inbox.
	// Status changes of Cedula's own issuer are told at once.
	WalletWatchInterval Duration `yaml:"wallet_watch_interval"`
}

// RateLimits are requests a minute. Raise them for a load generator that
// plays many citizens from one address (`cedula bench wallet`), never to
// serve real citizens faster.
type RateLimits struct {
	// MobilePerCitizen bounds each citizen's requests to the mobile API
	// (default 120, mobileapi.DefaultRate).
	MobilePerCitizen int `yaml:"mobile_per_citizen"`
	// StreamsPerCitizen bounds the inbox streams one citizen holds open
	// at once on a replica (default 10, mobileapi.DefaultStreams).
	StreamsPerCitizen int `yaml:"streams_per_citizen"`
	// LoginPerIP and EnrolPerIP bound passkey logins and enrolments from
	// one address (defaults 120 and 30, pages.DefaultLimits).
	LoginPerIP int `yaml:"login_per_ip"`
	EnrolPerIP int `yaml:"enrol_per_ip"`
}

// Passkeys configures WebAuthn.
type Passkeys struct {
	RPID   string `yaml:"rp_id"`
	RPName string `yaml:"rp_name"`
	// Origins are extra origins the pages are served from, besides the
	// public URL's (e.g. a replica's own address in tests).
	Origins []string `yaml:"origins"`
	// AAGUIDAllowList, when not empty, admits only these authenticator
	// models (AAGUIDs in their 8-4-4-4-12 hex form).
	AAGUIDAllowList []string `yaml:"aaguid_allowlist"`
}

// Tokens sets token lifetimes.
type Tokens struct {
	AccessTTL  Duration `yaml:"access_ttl"`
	IDTTL      Duration `yaml:"id_ttl"`
	RefreshTTL Duration `yaml:"refresh_ttl"`
}

// Client is an agency client declared in the file.
type Client struct {
	ID                     string   `yaml:"id"`
	Name                   string   `yaml:"name"`
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	GrantTypes             []string `yaml:"grant_types"`
	AuthMethod             string   `yaml:"token_endpoint_auth_method"`
	// JWKSFile is the path of the client's public JWKS (private_key_jwt).
	JWKSFile string `yaml:"jwks_file"`
	// SecretSHA256File holds the hex SHA-256 of a secret Cedula generated
	// earlier (client_secret_basic); the secret itself is never configured.
	SecretSHA256File     string `yaml:"secret_sha256_file"`
	SubjectType          string `yaml:"subject_type"`
	SectorID             string `yaml:"sector_identifier"`
	IDTokenAlg           string `yaml:"id_token_signed_response_alg"`
	BackchannelLogoutURI string `yaml:"backchannel_logout_uri"`
	// RequirePAR: RFC 9126 §6 require_pushed_authorization_requests.
	RequirePAR bool     `yaml:"require_pushed_authorization_requests"`
	Scopes     []string `yaml:"scopes"`
}

// Duration is a time.Duration written as "10m" in YAML.
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 10m or 24h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Default returns the embedded-mode configuration.
func Default() Config {
	return Config{
		Listen:       "127.0.0.1:8080",
		AdminListen:  "127.0.0.1:9090",
		PublicURL:    "http://localhost:8080",
		DataDir:      "./data",
		Keys:         "local",
		KeyRetention: Duration(48 * time.Hour),
		LogLevel:     "info",
		Passkeys:     Passkeys{RPName: "Cedula"},
		Tokens: Tokens{
			AccessTTL:  Duration(10 * time.Minute),
			IDTTL:      Duration(10 * time.Minute),
			RefreshTTL: Duration(30 * 24 * time.Hour),
		},
		EnrolmentTTL:        Duration(24 * time.Hour),
		ConsentPreload:      true,
		WalletWatchInterval: Duration(15 * time.Minute),
		SessionTTL:          Duration(12 * time.Hour),
		// The app's private-use scheme, and the loopback address `cedula
		// wallet login` waits on (cmd/cedula WalletCLIPort).
		WalletRedirectURIs: []string{"es.cedula.wallet:/oauth/callback", "http://127.0.0.1:53682/callback"},
	}
}

// Load returns the defaults overlaid with the YAML file at path (when not
// empty) and then with the environment (getenv, usually os.Getenv).
func Load(path string, getenv func(string) string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) { // io.EOF: empty file
			return c, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	env := map[string]*string{
		"CEDULA_LISTEN":     &c.Listen,
		"CEDULA_PUBLIC_URL": &c.PublicURL,
		"CEDULA_DATA_DIR":   &c.DataDir,
		"CEDULA_DB":         &c.DB,
		"CEDULA_KEYS":       &c.Keys,
		"CEDULA_LOG_LEVEL":  &c.LogLevel,
	}
	for name, p := range env {
		if v := getenv(name); v != "" {
			*p = v
		}
	}
	if v := getenv("CEDULA_ADMIN_LISTEN"); v != "" {
		c.AdminListen = AdminListenValue(v)
	}
	if v := getenv("CEDULA_JOURNEYS"); v != "" {
		c.Journeys = v
	}
	if v := getenv("CEDULA_ALERT_AREAS"); v != "" {
		c.AlertAreas = v
	}
	for name, field := range map[string]*string{"CEDULA_MAIL_RELAY": &c.MailRelay, "CEDULA_MAIL_FROM": &c.MailFrom,
		"CEDULA_SMS_GATEWAY": &c.SMSGateway, "CEDULA_PUSH_GATEWAY": &c.PushGateway} {
		if v := getenv(name); v != "" {
			*field = v
		}
	}
	if v := getenv("CEDULA_PURPOSES"); v != "" {
		c.Purposes = v
	}
	if v := getenv("CEDULA_CREDENTIAL_TYPES"); v != "" {
		c.CredentialTypes = v
	}
	if v := getenv("CEDULA_CREDENTIAL_CERTIFICATE"); v != "" {
		c.CredentialCertificate = v
	}
	if v := getenv("CEDULA_VERIFIER_TRUST_ANCHORS"); v != "" {
		c.VerifierTrustAnchors = v
	}
	if v := getenv("CEDULA_VERIFIER_SETTINGS"); v != "" {
		c.VerifierSettings = v
	}
	if v := getenv("CEDULA_VERIFIER_CERTIFICATE"); v != "" {
		c.VerifierCertificate = v
	}
	for name, p := range map[string]*bool{"CEDULA_CONSENT_PRELOAD": &c.ConsentPreload, "CEDULA_REQUIRE_PAR": &c.RequirePAR} {
		if v := getenv(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return c, fmt.Errorf("config: %s: %q is not true or false", name, v)
			}
			*p = b
		}
	}
	if v := getenv("CEDULA_PASSKEY_ORIGINS"); v != "" {
		c.Passkeys.Origins = strings.Split(v, ",")
	}
	return c, nil
}

// AdminListenValue reads an admin_listen given where an empty value cannot
// be told from an absent one (the environment, a flag): "off" disables the
// admin listener.
func AdminListenValue(v string) string {
	if v == "off" {
		return ""
	}
	return v
}

// AdminExposed reports whether the admin listener is enabled on an address
// other than loopback (a host name, all interfaces, or a non-loopback IP):
// allowed, as the operator configured it, but worth a warning.
func (c Config) AdminExposed() bool {
	if c.AdminListen == "" {
		return false
	}
	host, _, err := net.SplitHostPort(c.AdminListen)
	if err != nil {
		return false // not an address at all: Validate reports it
	}
	ip := net.ParseIP(host)
	return host != "localhost" && (ip == nil || !ip.IsLoopback())
}

// DatabaseURL is the database to open.
func (c Config) DatabaseURL() string {
	if c.DB == "" {
		return filepath.Join(c.DataDir, "cedula.db")
	}
	return c.DB
}

// RPID is the WebAuthn relying party ID.
func (c Config) RPID() string {
	if c.Passkeys.RPID != "" {
		return c.Passkeys.RPID
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// Origins lists every origin passkey ceremonies may come from.
func (c Config) Origins() []string {
	out := []string{c.PublicURL}
	if u, err := url.Parse(c.PublicURL); err == nil {
		out[0] = u.Scheme + "://" + u.Host
	}
	for _, o := range c.Passkeys.Origins {
		if o != out[0] {
			out = append(out, strings.TrimSuffix(o, "/"))
		}
	}
	return out
}

// Secure reports whether cookies get the Secure attribute.
func (c Config) Secure() bool { return strings.HasPrefix(c.PublicURL, "https://") }

// Validate reports every problem in c at once.
func (c Config) Validate() error {
	var probs []string
	add := func(f string, a ...any) { probs = append(probs, fmt.Sprintf(f, a...)) }
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen: %q is not host:port", c.Listen)
	}
	if c.AdminListen != "" {
		if _, _, err := net.SplitHostPort(c.AdminListen); err != nil {
			add("admin_listen: %q is not host:port (or empty, or off, to disable the admin listener)", c.AdminListen)
		}
	}
	if c.AdminListen != "" {
		if _, _, err := net.SplitHostPort(c.AdminListen); err != nil {
			add("admin_listen: %q is not host:port (or empty, or off, to disable the admin listener)", c.AdminListen)
		}
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(c.PublicURL, "/") {
		add("public_url: %q must be an absolute http(s) URL without query, fragment or trailing slash", c.PublicURL)
	} else if u.Scheme == "http" && u.Hostname() != "localhost" {
		add("public_url: %q must use https (http only for localhost, which browsers treat as secure for passkeys)", c.PublicURL)
	} else if net.ParseIP(u.Hostname()) != nil && c.Passkeys.RPID == "" {
		add("public_url: %q is an IP address; passkeys need a domain name (or set passkeys.rp_id)", c.PublicURL)
	}
	if c.DataDir == "" {
		add("data_dir: must not be empty")
	}
	if c.DB != "" && strings.Contains(c.DB, "://") && !strings.HasPrefix(c.DB, "postgres://") &&
		!strings.HasPrefix(c.DB, "postgresql://") && !strings.HasPrefix(c.DB, "sqlite://") {
		add("db: %q is not a postgres:// URL or a SQLite path", c.DB)
	}
	if c.Keys != "local" && !strings.HasPrefix(c.Keys, "local:") && !strings.HasPrefix(c.Keys, "vault://") && !strings.HasPrefix(c.Keys, "vault+https://") {
		add("keys: %q is not local, local:PATH or vault://HOST:PORT[/MOUNT]", c.Keys)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("log_level: %q is not debug, info, warn or error", c.LogLevel)
	}
	for name, d := range map[string]Duration{
		"tokens.access_ttl": c.Tokens.AccessTTL, "tokens.id_ttl": c.Tokens.IDTTL, "tokens.refresh_ttl": c.Tokens.RefreshTTL,
		"enrolment_ttl": c.EnrolmentTTL, "session_ttl": c.SessionTTL, "key_retention": c.KeyRetention,
		"wallet_watch_interval": c.WalletWatchInterval,
	} {
		if d <= 0 {
			add("%s: must be positive", name)
		}
	}
	if c.KeyRetention > 0 && (c.KeyRetention < c.Tokens.AccessTTL || c.KeyRetention < c.Tokens.IDTTL) {
		add("key_retention: %s is shorter than a token lifetime; retired keys would vanish before their tokens expire", c.KeyRetention.D())
	}
	for name, n := range map[string]int{"rate_limits.mobile_per_citizen": c.RateLimits.MobilePerCitizen,
		"rate_limits.streams_per_citizen": c.RateLimits.StreamsPerCitizen,
		"rate_limits.login_per_ip":        c.RateLimits.LoginPerIP, "rate_limits.enrol_per_ip": c.RateLimits.EnrolPerIP} {
		if n < 0 {
			add("%s: must not be negative (0 keeps the default)", name)
		}
	}
	for _, o := range c.Passkeys.Origins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			add("passkeys.origins: %q is not an origin like https://id.example.gob", o)
		}
	}
	for _, a := range c.Passkeys.AAGUIDAllowList {
		if len(strings.ReplaceAll(a, "-", "")) != 32 {
			add("passkeys.aaguid_allowlist: %q is not an AAGUID", a)
		}
	}
	seen := map[string]bool{}
	for i, cl := range c.Clients {
		if cl.ID == "" {
			add("clients[%d]: id is required", i)
		} else if seen[cl.ID] {
			add("clients[%d]: id %q is declared twice", i, cl.ID)
		}
		seen[cl.ID] = true
		if cl.AuthMethod == "private_key_jwt" && cl.JWKSFile == "" {
			add("clients[%d]: private_key_jwt needs jwks_file", i)
		}
		if cl.AuthMethod == "client_secret_basic" && cl.SecretSHA256File == "" {
			add("clients[%d]: client_secret_basic needs secret_sha256_file", i)
		}
	}
	if len(probs) > 0 {
		return &Error{Problems: probs}
	}
	return nil
}

// Error lists every configuration problem found.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}
