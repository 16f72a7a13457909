// Package vci is the credential issuer of OpenID for Verifiable Credential
// Issuance 1.0: agencies offer credentials of the configured types to
// citizens, wallets redeem the offers (pre-authorized code with a
// transaction code) and receive SD-JWT VCs bound to their keys, and the
// agencies suspend, reinstate and revoke them through Token Status Lists.
//
// Every issuance reads the citizen's attributes from an attribute source
// only after the consent ledger allowed it for the issuing agency's
// purpose; the decision, the issuance record, the credentials' places in
// the status list and the audit entries commit in one transaction.
//
// The package has no HTTP in it: vciapi serves it, and the provider's
// token endpoint redeems the offers through Grant.
package vci
