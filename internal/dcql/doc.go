// Package dcql is the Digital Credentials Query Language of OpenID for
// Verifiable Presentations 1.0 (§6) that the wallet and the verifier
// share: parsing a query within bounds (a query is hostile input to a
// wallet), claims path pointers (§7), matching claims against a query
// (§6.4.1), and, for a verifier, checking that presentations answer a
// query and keeping only the claims it asked for (Query.Check).
package dcql
