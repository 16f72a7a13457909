package issuertest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/issuer"
)

// AuditEnv is a store that audits its changes, with the log it writes to.
type AuditEnv struct {
	Store issuer.Store
	Log   audit.Log
	// Pseudonyms are the citizens' audit pseudonyms the store uses.
	Pseudonyms *audit.Pseudonyms
}

// RunAuditTests checks that every change of the store appends exactly the
// entry it should — action, actor, subject pseudonym, outcome, categories,
// request ID — that a refused change appends nothing, and that concurrent
// token issuance loses no entry and invents none.
func RunAuditTests(t *testing.T, newEnv func(t *testing.T) AuditEnv) {
	t.Run("EveryChangeRecorded", func(t *testing.T) { testEveryChangeRecorded(t, newEnv(t)) })
	t.Run("ConcurrentTokens", func(t *testing.T) { testAuditConcurrentTokens(t, newEnv(t)) })
}

// wantEntry is what one entry should say; subject and a citizen actor are
// citizen IDs, turned into pseudonyms by the check.
type wantEntry struct {
	action     string
	actor      audit.ActorKind
	actorID    string
	subject    string
	outcome    audit.Outcome
	categories []string
}

// logReader follows the log from where it stood when created.
type logReader struct {
	env  AuditEnv
	size int64
}

func newLogReader(t *testing.T, env AuditEnv) *logReader {
	t.Helper()
	must(t, env.Log.Flush(t.Context()), "Flush")
	n, err := env.Log.Size(t.Context())
	must(t, err, "Size")
	return &logReader{env: env, size: n}
}

// next returns the entries appended since the last call.
func (r *logReader) next(t *testing.T) []audit.Entry {
	t.Helper()
	ctx := t.Context()
	must(t, r.env.Log.Flush(ctx), "Flush")
	n, err := r.env.Log.Size(ctx)
	must(t, err, "Size")
	var out []audit.Entry
	for r.size < n {
		end := min(n, r.size+audit.MaxEntries)
		recs, err := r.env.Log.Entries(ctx, r.size, end)
		must(t, err, "Entries")
		for _, rec := range recs {
			e, err := rec.Entry()
			must(t, err, fmt.Sprintf("entry %d", rec.Index))
			out = append(out, e)
		}
		r.size = end
	}
	return out
}

func testEveryChangeRecorded(t *testing.T, env AuditEnv) {
	s := env.Store
	now := baseTime()
	registrar := audit.Actor{Kind: audit.ActorClient, ID: "registro-civil"}
	admin := func(ctx context.Context) context.Context { return audit.WithActor(ctx, registrar) }
	addClients(t, s, "agencia")
	must(t, s.CreateAuthRequest(t.Context(), newAuthRequest("ar-1", "agencia", now)), "CreateAuthRequest")
	must(t, s.CreateAccessToken(t.Context(), issuer.AccessToken{ID: "seed-at", ClientID: "agencia", Subject: "agencia",
		Expiration: now.Add(time.Hour)}), "CreateAccessToken seed")
	log := newLogReader(t, env)

	var machineToken = issuer.AccessToken{ID: "cc-1", ClientID: "agencia", Subject: "agencia",
		Scopes: []string{"cedula:audit"}, Expiration: now.Add(time.Hour)}
	rt1 := newRefreshToken("f1-rt", "f1", "c1", "agencia", now)
	rt2 := newRefreshToken("f1-rt2", "f1", "c1", "agencia", now.Add(time.Minute))
	rt3 := newRefreshToken("f1-rt3", "f1", "c1", "agencia", now.Add(2*time.Minute))
	g1 := newRefreshToken("g1-rt", "g1", "c1", "agencia", now)
	citizen := func(action string) wantEntry {
		return wantEntry{action: action, actor: audit.ActorCitizen, actorID: "c1", subject: "c1", outcome: audit.Allowed}
	}
	byRegistrar := func(action, subject string) wantEntry {
		return wantEntry{action: action, actor: audit.ActorClient, actorID: "registro-civil", subject: subject, outcome: audit.Allowed}
	}
	operator := func(ctx context.Context) context.Context {
		return audit.WithActor(ctx, audit.Actor{Kind: audit.ActorSystem, ID: "admin-cli"})
	}
	privilege := func(action, actorID, clientID, scope string) wantEntry {
		kind := audit.ActorSystem
		if actorID == "registro-civil" {
			kind = audit.ActorClient
		}
		return wantEntry{action: action, actor: kind, actorID: actorID, outcome: audit.Allowed,
			categories: issuer.PrivilegeCategories(clientID, scope)}
	}
	otraWith := func(scopes ...string) issuer.Client {
		c := newClient("otra", now)
		c.Scopes = append(c.Scopes, scopes...)
		return c
	}
	byAgency := func(action, subject string, outcome audit.Outcome, cats ...string) wantEntry {
		return wantEntry{action: action, actor: audit.ActorClient, actorID: "agencia", subject: subject, outcome: outcome, categories: cats}
	}
	steps := []struct {
		name    string
		do      func(ctx context.Context) error
		wantErr error
		want    []wantEntry
	}{
		{"create citizen", func(ctx context.Context) error { return s.CreateCitizen(admin(ctx), newCitizen("c1", now)) }, nil,
			[]wantEntry{byRegistrar(issuer.ActionCitizenCreate, "c1")}},
		{"create the same citizen again", func(ctx context.Context) error { return s.CreateCitizen(admin(ctx), newCitizen("c1", now)) }, issuer.ErrExists, nil},
		{"register a client", func(ctx context.Context) error { return s.PutClient(admin(ctx), newClient("otra", now)) }, nil,
			[]wantEntry{byRegistrar(issuer.ActionClientRegister, "")}},
		{"register it unchanged but for its time", func(ctx context.Context) error {
			return s.PutClient(admin(ctx), newClient("otra", now.Add(time.Hour)))
		}, nil, nil},
		{"grant a privileged scope", func(ctx context.Context) error {
			_, err := s.GrantPrivilege(operator(ctx), "otra", issuer.ScopeDPO)
			return err
		}, nil, []wantEntry{privilege(issuer.ActionPrivilegeGrant, "admin-cli", "otra", issuer.ScopeDPO)}},
		{"grant it again", func(ctx context.Context) error {
			_, err := s.GrantPrivilege(operator(ctx), "otra", issuer.ScopeDPO)
			return err
		}, nil, nil},
		{"grant a scope that is not privileged", func(ctx context.Context) error {
			_, err := s.GrantPrivilege(operator(ctx), "otra", "profile")
			return err
		}, issuer.ErrNotPrivileged, nil},
		{"grant to an unknown client", func(ctx context.Context) error {
			_, err := s.GrantPrivilege(operator(ctx), "nadie", issuer.ScopeAdmin)
			return err
		}, issuer.ErrNotFound, nil},
		{"replace it through delegated administration without its privilege", func(ctx context.Context) error {
			return s.PutClientKeepPrivileges(admin(ctx), otraWith())
		}, issuer.ErrPrivileged, nil},
		{"replace it through delegated administration, privilege kept", func(ctx context.Context) error {
			c := otraWith(issuer.ScopeDPO)
			c.Name = "Otra agencia"
			return s.PutClientKeepPrivileges(admin(ctx), c)
		}, nil, []wantEntry{byRegistrar(issuer.ActionClientRegister, "")}},
		{"replace it as the operator: admin given, dpo taken", func(ctx context.Context) error {
			return s.PutClient(operator(ctx), otraWith(issuer.ScopeAdmin))
		}, nil, []wantEntry{
			{action: issuer.ActionClientRegister, actor: audit.ActorSystem, actorID: "admin-cli", outcome: audit.Allowed},
			privilege(issuer.ActionPrivilegeGrant, "admin-cli", "otra", issuer.ScopeAdmin),
			privilege(issuer.ActionPrivilegeRevoke, "admin-cli", "otra", issuer.ScopeDPO),
		}},
		{"revoke a privileged scope", func(ctx context.Context) error {
			_, err := s.RevokePrivilege(operator(ctx), "otra", issuer.ScopeAdmin)
			return err
		}, nil, []wantEntry{privilege(issuer.ActionPrivilegeRevoke, "admin-cli", "otra", issuer.ScopeAdmin)}},
		{"revoke it again", func(ctx context.Context) error {
			_, err := s.RevokePrivilege(operator(ctx), "otra", issuer.ScopeAdmin)
			return err
		}, nil, nil},
		{"grant one to keep until the client goes", func(ctx context.Context) error {
			_, err := s.GrantPrivilege(operator(ctx), "otra", issuer.ScopeAdmin)
			return err
		}, nil, []wantEntry{privilege(issuer.ActionPrivilegeGrant, "admin-cli", "otra", issuer.ScopeAdmin)}},
		{"create an enrolment link", func(ctx context.Context) error { return s.CreateEnrolment(admin(ctx), newEnrolment("e1", "c1", now)) }, nil,
			[]wantEntry{byRegistrar(issuer.ActionEnrolmentCreate, "c1")}},
		{"use it", func(ctx context.Context) error {
			_, err := s.UseEnrolment(ctx, newEnrolment("e1", "c1", now).TokenHash, now.Add(time.Minute))
			return err
		}, nil, []wantEntry{citizen(issuer.ActionEnrolmentUse)}},
		{"use it again", func(ctx context.Context) error {
			_, err := s.UseEnrolment(ctx, newEnrolment("e1", "c1", now).TokenHash, now.Add(time.Minute))
			return err
		}, issuer.ErrUsed, nil},
		{"add a passkey", func(ctx context.Context) error { return s.AddPasskey(ctx, newPasskey("p1", "c1", now)) }, nil,
			[]wantEntry{citizen(issuer.ActionPasskeyAdd)}},
		{"add it again", func(ctx context.Context) error { return s.AddPasskey(ctx, newPasskey("p1", "c1", now)) }, issuer.ErrExists, nil},
		{"replace recovery codes", func(ctx context.Context) error {
			return s.ReplaceRecoveryCodes(ctx, "c1", [][]byte{blob("code-1", 32), blob("code-2", 32)})
		}, nil, []wantEntry{citizen(issuer.ActionRecoveryCodes)}},
		{"log in with the passkey", func(ctx context.Context) error {
			return s.RecordPasskeyUse(ctx, credID("p1"), 5, true, now.Add(2*time.Minute))
		}, nil, []wantEntry{citizen(issuer.ActionLogin)}},
		{"log in with a counter gone back", func(ctx context.Context) error {
			return s.RecordPasskeyUse(ctx, credID("p1"), 3, true, now.Add(3*time.Minute))
		}, issuer.ErrCounter, []wantEntry{{action: issuer.ActionLogin, actor: audit.ActorCitizen, actorID: "c1", subject: "c1", outcome: audit.Denied}}},
		{"log in with an unknown passkey", func(ctx context.Context) error {
			return s.RecordPasskeyUse(ctx, credID("nobody"), 9, true, now)
		}, issuer.ErrNotFound, nil},
		{"start a session", func(ctx context.Context) error { return s.CreateSession(ctx, newSession("s1", "c1", now)) }, nil,
			[]wantEntry{citizen(issuer.ActionSessionStart)}},
		{"rename the passkey", func(ctx context.Context) error { return s.RenamePasskey(ctx, "c1", credID("p1"), "Trabajo") }, nil,
			[]wantEntry{citizen(issuer.ActionPasskeyRename)}},
		{"rename someone else's passkey", func(ctx context.Context) error { return s.RenamePasskey(ctx, "c2", credID("p1"), "Mío") }, issuer.ErrNotFound, nil},
		{"authorize the agency", func(ctx context.Context) error {
			return s.CompleteAuthRequest(ctx, "ar-1", issuer.Completion{CitizenID: "c1", Subject: "sub-1", AMR: []string{"hwk"}, AuthTime: now})
		}, nil, []wantEntry{byAgency(issuer.ActionAuthorize, "c1", audit.Allowed, "email", "profile")}},
		{"issue a machine token", func(ctx context.Context) error { return s.CreateAccessToken(ctx, machineToken) }, nil,
			[]wantEntry{byAgency(issuer.ActionToken, "", audit.Allowed, "cedula:audit")}},
		{"issue the same token ID again", func(ctx context.Context) error { return s.CreateAccessToken(ctx, machineToken) }, issuer.ErrExists, nil},
		{"issue tokens for the citizen", func(ctx context.Context) error {
			return s.CreateRefreshToken(ctx, rt1, newAccessToken("f1-at", rt1))
		}, nil, []wantEntry{byAgency(issuer.ActionToken, "c1", audit.Allowed, "profile")}},
		{"refresh", func(ctx context.Context) error {
			return s.RotateRefreshToken(ctx, rt1.ID, rt2, newAccessToken("f1-at2", rt2))
		}, nil,
			[]wantEntry{byAgency(issuer.ActionRefresh, "c1", audit.Allowed, "profile")}},
		{"refresh with the used token", func(ctx context.Context) error {
			return s.RotateRefreshToken(ctx, rt1.ID, rt3, newAccessToken("f1-at3", rt3))
		}, issuer.ErrReused, []wantEntry{byAgency(issuer.ActionRefresh, "c1", audit.Denied, "profile"), byAgency(issuer.ActionRevoke, "c1", audit.Allowed)}},
		{"revoke the machine token", func(ctx context.Context) error { return s.RevokeAccessToken(ctx, "cc-1") }, nil,
			[]wantEntry{byAgency(issuer.ActionRevoke, "", audit.Allowed)}},
		{"revoke an unknown token", func(ctx context.Context) error { return s.RevokeAccessToken(ctx, "nope") }, issuer.ErrNotFound, nil},
		{"revoke a family", func(ctx context.Context) error {
			if err := s.CreateRefreshToken(t.Context(), g1, newAccessToken("g1-at", g1)); err != nil {
				return err
			}
			log.next(t)
			return s.RevokeFamily(ctx, "g1")
		}, nil, []wantEntry{byAgency(issuer.ActionRevoke, "c1", audit.Allowed)}},
		{"revoke the citizen's grants", func(ctx context.Context) error {
			g2 := newRefreshToken("g2-rt", "g2", "c1", "agencia", now)
			if err := s.CreateRefreshToken(t.Context(), g2, newAccessToken("g2-at", g2)); err != nil {
				return err
			}
			log.next(t)
			_, err := s.RevokeGrant(ctx, "c1", "")
			return err
		}, nil, []wantEntry{citizen(issuer.ActionRevoke)}},
		{"revoke grants when there are none", func(ctx context.Context) error {
			_, err := s.RevokeGrant(ctx, "c1", "")
			return err
		}, nil, nil},
		{"remove the only passkey, codes remaining", func(ctx context.Context) error { return s.DeletePasskey(ctx, "c1", credID("p1")) }, nil,
			[]wantEntry{citizen(issuer.ActionPasskeyRemove)}},
		{"remove a passkey that is not there", func(ctx context.Context) error { return s.DeletePasskey(ctx, "c1", credID("p1")) }, issuer.ErrNotFound, nil},
		{"recover with a code", func(ctx context.Context) error {
			_, err := s.UseRecoveryCode(ctx, blob("code-1", 32))
			return err
		}, nil, []wantEntry{citizen(issuer.ActionRecoveryUse)}},
		{"recover with a used code", func(ctx context.Context) error {
			_, err := s.UseRecoveryCode(ctx, blob("code-1", 32))
			return err
		}, issuer.ErrNotFound, nil},
		{"remove every passkey but the new one", func(ctx context.Context) error {
			for _, name := range []string{"p2", "p3"} {
				if err := s.AddPasskey(t.Context(), newPasskey(name, "c1", now)); err != nil {
					return err
				}
			}
			log.next(t)
			_, err := s.DeletePasskeysExcept(ctx, "c1", credID("p3"))
			return err
		}, nil, []wantEntry{citizen(issuer.ActionPasskeyRemove)}},
		{"end the session", func(ctx context.Context) error { return s.DeleteSession(ctx, newSession("s1", "c1", now).IDHash) }, nil,
			[]wantEntry{citizen(issuer.ActionSessionEnd)}},
		{"end it again", func(ctx context.Context) error { return s.DeleteSession(ctx, newSession("s1", "c1", now).IDHash) }, nil, nil},
		{"end every session, none left", func(ctx context.Context) error { _, err := s.DeleteSessionsOf(ctx, "c1"); return err }, nil, nil},
		{"delete a client", func(ctx context.Context) error { return s.DeleteClient(admin(ctx), "otra") }, nil,
			[]wantEntry{byRegistrar(issuer.ActionClientDelete, ""), privilege(issuer.ActionPrivilegeRevoke, "registro-civil", "otra", issuer.ScopeAdmin)}},
		{"delete it again", func(ctx context.Context) error { return s.DeleteClient(admin(ctx), "otra") }, issuer.ErrNotFound, nil},
		{"erase the citizen", func(ctx context.Context) error { _, err := s.EraseCitizen(admin(ctx), "c1"); return err }, nil,
			[]wantEntry{byRegistrar(issuer.ActionCitizenErase, "c1")}},
		{"erase nobody", func(ctx context.Context) error { _, err := s.EraseCitizen(admin(ctx), "nobody"); return err }, issuer.ErrNotFound, nil},
	}
	pseudonym := func(id string) string {
		if id == "" {
			return ""
		}
		return env.Pseudonyms.Of(id)
	}
	for i, st := range steps {
		reqID := fmt.Sprintf("req-%02d", i)
		err := st.do(audit.WithRequestID(t.Context(), reqID))
		if !wantErr(t, st.name, err, st.wantErr) {
			continue
		}
		got := log.next(t)
		if len(got) != len(st.want) {
			t.Errorf("%s: got %d entries %v, want %d", st.name, len(got), got, len(st.want))
			continue
		}
		for j, w := range st.want {
			e := got[j]
			actorID := w.actorID
			if w.actor == audit.ActorCitizen {
				actorID = pseudonym(actorID)
			}
			wantCats := slices.Clone(w.categories)
			slices.Sort(wantCats)
			checks := []struct {
				what      string
				got, want any
			}{
				{"action", e.Action, w.action},
				{"actor", e.Actor, audit.Actor{Kind: w.actor, ID: actorID}},
				{"subject", e.Subject, pseudonym(w.subject)},
				{"outcome", e.Outcome, w.outcome},
				{"categories", fmt.Sprint(e.Categories), fmt.Sprint(wantCats)},
				{"request ID", e.RequestID, reqID},
				{"details", len(e.Details), 0},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s: entry %d: got %s %v, want %v", st.name, j+1, c.what, c.got, c.want)
				}
			}
			if e.Time.IsZero() {
				t.Errorf("%s: entry %d has no time", st.name, j+1)
			}
		}
	}
}

// testAuditConcurrentTokens: tokens issued at once, one of them with a
// taken ID. Every token that was stored has exactly one entry, carrying
// its request's ID; the refused one has none.
func testAuditConcurrentTokens(t *testing.T, env AuditEnv) {
	s := env.Store
	addClients(t, s, "agencia")
	addCitizens(t, s, "c1")
	now := baseTime()
	must(t, s.CreateAccessToken(t.Context(), issuer.AccessToken{ID: "taken", ClientID: "agencia", Expiration: now.Add(time.Hour)}), "CreateAccessToken")
	log := newLogReader(t, env)
	const n = 150
	errs := together(n, func(i int) error {
		id := fmt.Sprintf("at-%03d", i)
		if i == n/2 {
			id = "taken"
		}
		ctx := audit.WithRequestID(t.Context(), fmt.Sprintf("req-%03d", i))
		return s.CreateAccessToken(ctx, issuer.AccessToken{ID: id, ClientID: "agencia", CitizenID: "c1", Subject: "sub",
			Scopes: []string{"openid", "email"}, Expiration: now.Add(time.Hour)})
	})
	stored := map[string]bool{}
	for i, err := range errs {
		switch {
		case i == n/2:
			wantErr(t, "CreateAccessToken with a taken ID", err, issuer.ErrExists)
		case err != nil:
			t.Errorf("CreateAccessToken %d: %v", i, err)
		default:
			stored[fmt.Sprintf("req-%03d", i)] = true
		}
	}
	seen := map[string]int{}
	for _, e := range log.next(t) {
		if e.Action != issuer.ActionToken || e.Subject != env.Pseudonyms.Of("c1") || fmt.Sprint(e.Categories) != "[email]" {
			t.Errorf("unexpected entry %+v", e)
			continue
		}
		seen[e.RequestID]++
	}
	for id := range stored {
		if seen[id] != 1 {
			t.Errorf("token of %s: got %d entries, want 1", id, seen[id])
		}
	}
	for id, k := range seen {
		if !stored[id] {
			t.Errorf("entry of %s (%d of them) for a token that was not stored", id, k)
		}
	}
	if len(stored) != n-1 {
		t.Errorf("got %d tokens stored, want %d", len(stored), n-1)
	}
}
