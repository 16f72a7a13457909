// Package backend opens the keys.Manager that configuration names:
//
//	"" or "local"                 local keystore at DataDir/keystore.json
//	"local:PATH"                  local keystore at PATH
//	"vault://HOST:PORT[/MOUNT]"   Vault transit over http (development)
//	"vault+https://HOST:PORT[/MOUNT]"  Vault transit over https
//
// A vault URL without a host takes the address from VAULT_ADDR. MOUNT is the
// transit mount (default "transit"); the query may set prefix= (transit key
// name prefix, default "cedula-") and approle= (AppRole auth mount, default
// "approle"). Credentials never appear in the URL: VAULT_TOKEN (or a file
// named by VAULT_TOKEN_FILE), or AppRole through VAULT_ROLE_ID and
// VAULT_SECRET_ID (or VAULT_ROLE_ID_FILE and VAULT_SECRET_ID_FILE), which
// wins when a role ID is set. The local
// keystore's key-encryption key comes from CEDULA_KEK or the KEK file (see
// localkeys).
package backend
