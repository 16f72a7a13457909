// Package jose is the one place Cedula calls a JOSE library
// (github.com/lestrrat-go/jwx/v2). Everything that signs, verifies or
// (de)serialises a JWS, JWT or JWK goes through here, so that moving to jwx/v3
// — v2 is deprecated upstream — is a change to this package alone.
package jose
