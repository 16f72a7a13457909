package issuertest

import (
	"slices"
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
)

func testClientRoundTrip(t *testing.T, newStore NewStore) {
	base := baseTime()
	for _, tc := range []struct {
		name string
		c    issuer.Client
	}{
		{"every field", newClient("tributaria", base)},
		{"public client with nil slices and bytes", issuer.Client{
			ID:           "app",
			Name:         "App móvil",
			RedirectURIs: []string{"http://localhost:8080/cb"},
			GrantTypes:   []string{issuer.GrantAuthorizationCode},
			AuthMethod:   issuer.AuthNone,
			SubjectType:  issuer.SubjectPublic,
			Created:      base,
		}},
		{"empty slices and bytes", issuer.Client{
			ID:                     "vacio",
			Name:                   "Vacío",
			RedirectURIs:           []string{"https://vacio.example.gov.uy/cb"},
			PostLogoutRedirectURIs: []string{},
			GrantTypes:             []string{issuer.GrantAuthorizationCode},
			AuthMethod:             issuer.AuthNone,
			SecretHash:             []byte{},
			JWKS:                   []byte{},
			SubjectType:            issuer.SubjectPairwise,
			Scopes:                 []string{},
			Created:                base,
		}},
		{"client_secret_basic with client_credentials", issuer.Client{
			ID:          "batch",
			Name:        "Procesos nocturnos",
			GrantTypes:  []string{issuer.GrantClientCredentials},
			AuthMethod:  issuer.AuthClientSecretBasic,
			SecretHash:  blob("secret:batch", 32),
			SubjectType: issuer.SubjectPublic,
			IDTokenAlg:  "EdDSA",
			Scopes:      []string{"padron:read"},
			Created:     base.UTC(),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			must(t, s.PutClient(t.Context(), tc.c), "PutClient")
			got, err := s.Client(t.Context(), tc.c.ID)
			must(t, err, "Client")
			checkEqual(t, "Client", got, tc.c)
		})
	}
}

func testPutClientReplaces(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	must(t, s.PutClient(ctx, newClient("tributaria", baseTime())), "PutClient")
	next := issuer.Client{
		ID:           "tributaria",
		Name:         "Agencia tributaria (nueva)",
		RedirectURIs: []string{"https://nueva.example.gov.uy/cb"},
		GrantTypes:   []string{issuer.GrantClientCredentials},
		AuthMethod:   issuer.AuthClientSecretBasic,
		SecretHash:   blob("secret:rotated", 32),
		SubjectType:  issuer.SubjectPublic,
		IDTokenAlg:   "RS256",
		Created:      baseTime().Add(time.Hour),
	}
	must(t, s.PutClient(ctx, next), "PutClient of the same ID")
	got, err := s.Client(ctx, "tributaria")
	must(t, err, "Client")
	checkEqual(t, "Client after replacement", got, next)
	list, err := s.ListClients(ctx)
	must(t, err, "ListClients")
	if len(list) != 1 {
		t.Fatalf("ListClients after replacement: got %d clients, want 1", len(list))
	}
	checkEqual(t, "ListClients after replacement", list[0], next)
}

func testListClients(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	list, err := s.ListClients(ctx)
	if err != nil || len(list) != 0 {
		t.Errorf("ListClients of an empty store: got %d clients, error %v, want 0, nil", len(list), err)
	}
	byID := map[string]issuer.Client{}
	for i, id := range []string{"zeta", "alfa", "mu", "beta"} {
		c := newClient(id, baseTime().Add(time.Duration(i)*time.Minute))
		byID[id] = c
		must(t, s.PutClient(ctx, c), "PutClient "+id)
	}
	list, err = s.ListClients(ctx)
	must(t, err, "ListClients")
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	want := []string{"alfa", "beta", "mu", "zeta"}
	if !slices.Equal(ids, want) {
		t.Fatalf("ListClients: got IDs %q, want %q", ids, want)
	}
	for _, c := range list {
		checkEqual(t, "ListClients "+c.ID, c, byID[c.ID])
	}
}

func testDeleteClient(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addClients(t, s, "alfa", "beta")
	must(t, s.DeleteClient(ctx, "alfa"), "DeleteClient")
	_, err := s.Client(ctx, "alfa")
	wantErr(t, "Client after DeleteClient", err, issuer.ErrNotFound)
	if _, err := s.Client(ctx, "beta"); err != nil {
		t.Errorf("Client of the other client: got error %v, want nil", err)
	}
	list, err := s.ListClients(ctx)
	must(t, err, "ListClients")
	if len(list) != 1 || list[0].ID != "beta" {
		t.Errorf("ListClients after DeleteClient: got %d clients, want only beta", len(list))
	}
}
