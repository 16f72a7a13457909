module cedula.test/vaultbuild

go 1.26

require github.com/hashicorp/vault v1.21.4

replace (
	github.com/99designs/keyring => github.com/Jeffail/keyring v1.2.3
	github.com/ma314smith/signedxml v1.1.1 => github.com/moov-io/signedxml v1.1.1
	github.com/hashicorp/vault/sdk => ./sdk-patched
)
