package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Create and inspect consortium keys"}
	var (
		dir, chain, scheme        string
		cityScheme, ordererScheme string
		n, rules                  int
		force                     bool
	)
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create a consortium: one key per city gateway and per orderer, NATS identities, and trust.json",
		Long: `init writes, under --dir:
  trust.json                 the trust bundle: chain id, orderers, public keys with scheme and role
  keys/city-<city>.key       each city gateway's signing key (mode 0600)
  keys/orderer-<name>.key    each orderer's signing key (mode 0600)
  nats/<identity>.nk         each member's NATS NKey seed (mode 0600), for --creds
  tls/ca.crt, tls/ca.key     the consortium CA (key mode 0600): it issues the TLS
                             certificates of NATS and HTTPS listeners and the client
                             certificates of mutual TLS ('keys cert')`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, sch := range []string{scheme, cityScheme, ordererScheme} {
				if _, err := keys.SchemeByName(cmp.Or(sch, scheme)); err != nil {
					return err
				}
			}
			if force {
				for _, sub := range []string{keys.TrustFile, keys.KeysDir, bus.NATSDir} {
					if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
						return err
					}
				}
			}
			cc, err := consortium.Create(dir, consortium.Spec{Chain: chain, Orderers: n, Scheme: scheme, CityScheme: cityScheme, OrdererScheme: ordererScheme, Rules: rules})
			if errors.Is(err, consortium.ErrExists) {
				return fmt.Errorf("%s already holds a consortium (trust.json); use --force to replace it", dir)
			}
			if err != nil {
				return err
			}
			cons, orderers := cc.Keys, cc.Bundle().Orderers
			fmt.Fprintf(cmd.OutOrStdout(), "consortium %q: %d cities (%s), %d orderers (%s; %s, quorum %d), written to %s\n",
				chain, len(cons.Cities), cmp.Or(cityScheme, scheme), n, cmp.Or(ordererScheme, scheme), orderersList(orderers), cons.Bundle.Quorum(), dir)
			return nil
		},
	}
	initCmd.Flags().StringVar(&dir, "dir", "", "directory to write the consortium to (required)")
	initCmd.Flags().StringVar(&chain, "chain", system.DefaultChain, "chain id")
	initCmd.Flags().StringVar(&scheme, "scheme", keys.Ed25519, "signature scheme of every key: "+strings.Join(keys.SupportedSchemes, ", "))
	initCmd.Flags().StringVar(&cityScheme, "city-scheme", "", "signature scheme of the cities' keys (default --scheme), e.g. SM2")
	initCmd.Flags().StringVar(&ordererScheme, "orderer-scheme", "", "signature scheme of the orderers' keys (default --scheme)")
	initCmd.Flags().IntVar(&n, "orderers", system.DefaultOrderers, "number of orderers, 4 to 11")
	initCmd.Flags().BoolVar(&force, "force", false, "replace an existing consortium")
	initCmd.Flags().IntVar(&rules, "rules", keys.MaxRules, "the ledger's rules version for the new chain: 3 keeps personal data off the bus and shares it under grants (docs/sharing.md); 2 and 1 only to make a consortium like an old chain's")
	_ = initCmd.MarkFlagRequired("dir")
	cmd.AddCommand(initCmd, newKeysCertCmd(), newKeysAddReaderCmd(), newKeysRotateReaderCmd())
	return cmd
}

func newKeysCertCmd() *cobra.Command {
	var (
		dir, name, role string
		hosts           []string
		server, client  bool
		validity        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "cert --dir D --name N [--role R] [--client] [--server --host H,...]",
		Short: "Issue a TLS certificate from the consortium CA",
		Long: `cert issues a certificate from the consortium CA in --dir (tls/ca.crt,
tls/ca.key) and writes it to tls/<name>.crt (the certificate, then the CA's)
and tls/<name>.key (mode 0600). A certificate there that still serves (same
CA, hosts, usage, more than 30 days left) is kept.

--client: for mutual TLS; the subject names the holder (--name, e.g.
city-shenzhen) and its role (--role, e.g. city), which servers read.
--server: for a listener; --host lists its DNS names and IP addresses.
Both: for NATS cluster routes, where each server also dials the others.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !server && !client {
				return errors.New("keys cert: give --client, --server or both")
			}
			ca, err := consortium.LoadCA(dir, nil)
			if err != nil {
				return err
			}
			var usage consortium.Usage
			if server {
				usage |= consortium.UsageServer
			}
			if client {
				usage |= consortium.UsageClient
			}
			iss, err := ca.EnsureCert(dir, consortium.CertSpec{Name: name, Role: role, Usage: usage, Hosts: hosts, Validity: validity})
			if err != nil {
				return err
			}
			certPath, keyPath := consortium.CertPaths(dir, name)
			fmt.Fprintf(cmd.OutOrStdout(), "%s: certificate %s, key %s, valid until %s\n",
				name, certPath, keyPath, iss.Cert.NotAfter.UTC().Format(time.RFC3339))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "consortium directory (required)")
	fl.StringVar(&name, "name", "", "holder: the certificate's subject and file name (required)")
	fl.StringVar(&role, "role", "", "holder's role in the subject (city, orderer, reader, operator, server)")
	fl.StringSliceVar(&hosts, "host", nil, "DNS names and IP addresses of a server certificate")
	fl.BoolVar(&server, "server", false, "TLS server certificate")
	fl.BoolVar(&client, "client", false, "TLS client certificate")
	fl.DurationVar(&validity, "validity", 0, "validity (default 397 days, never past the CA's end)")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func orderersList(o []string) string {
	s := ""
	for i, x := range o {
		if i > 0 {
			s += ", "
		}
		s += x
	}
	return s
}

func newKeysAddReaderCmd() *cobra.Command {
	var (
		dir, name, scheme string
		grants            []string
		validFrom         uint64
	)
	cmd := &cobra.Command{
		Use:   "add-reader --dir D --name N --read JUR.kind,...",
		Short: "Add a named reader: a NATS identity limited to its grants, a signing key and an HPKE key",
		Long: `add-reader adds a reader (a bank, another city's department) to the consortium
in --dir:
  nats/reader-<name>.nk     its NATS identity (mode 0600), for subscribe --creds; the
                            bus lets it read only the proof subjects of its grants,
                            through its own durable consumers
  keys/reader-<name>.key    its signing key (--scheme), mode 0600
  keys/reader-<name>.hpke   its HPKE key (X-Wing), mode 0600: what is sealed to it
  trust.json                the reader, its grants and both public keys, valid from
                            --valid-from

--read lists its grants: <JUR>.<kind> (CN.business, HK.certificate, MO.approval) or
<JUR>.* for every kind of a jurisdiction. Give the three files to the reader; the
NATS servers apply its permissions when they next start (restart 'up').`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := keys.SchemeByName(scheme); err != nil {
				return err
			}
			rk, err := consortium.AddReader(dir, consortium.ReaderSpec{Name: name, Grants: grants, Scheme: scheme, ValidFrom: validFrom})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reader %s: reads %s; NATS credentials %s, keys %s and %s\n",
				name, strings.Join(rk.Reader.Grants, ", "), bus.SeedPath(dir, bus.IdentityName(bus.RoleReader, name)),
				keys.ReaderKeyPath(dir, name), keys.ReaderHPKEPath(dir, name))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "consortium directory (required)")
	fl.StringVar(&name, "name", "", "reader name: lower-case letters, digits and '-' (required)")
	fl.StringSliceVar(&grants, "read", nil, "grants: JUR.kind or JUR.*, either with .personal after it to read records that name persons in plaintext too (chains of rules 1 and 2), comma-separated (required)")
	fl.StringVar(&scheme, "scheme", keys.Ed25519, "signing key scheme: "+strings.Join(keys.SupportedSchemes, ", "))
	fl.Uint64Var(&validFrom, "valid-from", 0, "first block height at which its keys count")
	for _, f := range []string{"dir", "name", "read"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

func newKeysRotateReaderCmd() *cobra.Command {
	var (
		dir, name, scheme string
		from              uint64
	)
	cmd := &cobra.Command{
		Use:   "rotate-reader --dir D --name N --from HEIGHT",
		Short: "Give a reader new signing and HPKE keys from a height; the old ones stay valid below it",
		Long: `rotate-reader gives a reader new keys valid from block height --from, and ends
the keys in force at the height before, so what the old keys signed or had
sealed to them stays verifiable (an access record is checked against the key
valid at its height). The new private keys take the usual files
(keys/reader-<name>.key and .hpke); the old ones are kept beside them with their
number appended (keys/reader-<name>.hpke.1), to open old answers.

The orderers check readers' signatures by the trust bundle: give every orderer
the new trust.json and restart it before the chain reaches --from (choose it
ahead of the chain's height).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rk, err := consortium.RotateReader(dir, name, scheme, from, nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reader %s: keys %s and %s valid from height %d (written to %s and %s)\n",
				name, rk.Sign.KeyID(), rk.HPKE.KeyID(), from, keys.ReaderKeyPath(dir, name), keys.ReaderHPKEPath(dir, name))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "consortium directory (required)")
	fl.StringVar(&name, "name", "", "the reader (required)")
	fl.StringVar(&scheme, "scheme", keys.Ed25519, "signing key scheme: "+strings.Join(keys.SupportedSchemes, ", "))
	fl.Uint64Var(&from, "from", 0, "first block height of the new keys (required)")
	for _, f := range []string{"dir", "name", "from"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}
