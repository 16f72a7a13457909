// Package keystest is the conformance suite every keys.Manager backend runs:
// one set of tests, called from each backend's own tests, so that the local
// keystore and Vault transit are held to the same contract.
//
//	func TestManager(t *testing.T) {
//		keystest.RunManagerTests(t, func(t *testing.T) keys.Manager {
//			m, err := localkeys.Open(filepath.Join(t.TempDir(), "keystore.json"),
//				localkeys.WithKEK(kek),
//				localkeys.WithClock(keystest.Clock(t).Now),
//				localkeys.WithRetention(keystest.Retention))
//			…
//		})
//	}
package keystest
