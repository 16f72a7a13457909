package app

// providerPaths are the OpenID provider's endpoints (zitadel's defaults
// and PAR), each its own route.
var providerPaths = []string{"/.well-known/openid-configuration", "/authorize", "/authorize/callback", "/oauth/token",
	"/oauth/introspect", "/userinfo", "/revoke", "/end_session", "/keys", "/oauth/par"}
