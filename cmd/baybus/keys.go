package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Create and inspect consortium keys"}
	var (
		dir, chain, scheme string
		n                  int
		force              bool
	)
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create a consortium: one key per city gateway and per orderer, NATS identities, and trust.json",
		Long: `init writes, under --dir:
  trust.json                 the trust bundle: chain id, orderers, public keys with scheme and role
  keys/city-<city>.key       each city gateway's signing key (mode 0600)
  keys/orderer-<name>.key    each orderer's signing key (mode 0600)
  nats/<identity>.nk         each member's NATS NKey seed (mode 0600), for --creds`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := keys.SchemeByName(scheme); err != nil {
				return err
			}
			if force {
				for _, sub := range []string{keys.TrustFile, keys.KeysDir, bus.NATSDir} {
					if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
						return err
					}
				}
			}
			cc, err := consortium.Create(dir, consortium.Spec{Chain: chain, Orderers: n, Scheme: scheme})
			if errors.Is(err, consortium.ErrExists) {
				return fmt.Errorf("%s already holds a consortium (trust.json); use --force to replace it", dir)
			}
			if err != nil {
				return err
			}
			cons, orderers := cc.Keys, cc.Bundle().Orderers
			fmt.Fprintf(cmd.OutOrStdout(), "consortium %q: %d cities, %d orderers (%s, quorum %d), scheme %s, written to %s\n",
				chain, len(cons.Cities), n, orderersList(orderers), cons.Bundle.Quorum(), scheme, dir)
			return nil
		},
	}
	initCmd.Flags().StringVar(&dir, "dir", "", "directory to write the consortium to (required)")
	initCmd.Flags().StringVar(&chain, "chain", system.DefaultChain, "chain id")
	initCmd.Flags().StringVar(&scheme, "scheme", keys.Ed25519, "signature scheme: Ed25519, ML-DSA-65, Ed25519-Dilithium2")
	initCmd.Flags().IntVar(&n, "orderers", system.DefaultOrderers, "number of orderers, 4 to 11")
	initCmd.Flags().BoolVar(&force, "force", false, "replace an existing consortium")
	_ = initCmd.MarkFlagRequired("dir")
	cmd.AddCommand(initCmd)
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
