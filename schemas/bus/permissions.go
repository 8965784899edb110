package bus

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Least privilege on the bus (issue 14 §5). Each identity may publish and
// subscribe only to what its role needs:
//
//   - Replies come back on a per-identity inbox prefix, InboxPrefix(public
//     NKey), and each identity may subscribe only under its own, so no one
//     watches or answers another's JetStream deliveries, acknowledgements
//     or request replies. Every connection the project makes sets the
//     prefix (Connect, SeedOption, natsserver's Embedded.Connect).
//   - The JetStream API is granted call by call, naming the stream and
//     consumer: an orderer creates, reads and acknowledges only its own
//     durable GBA_TX consumer; a reader only its own GBA_PROOFS durables,
//     whose filter the create subject names, so a reader cannot widen its
//     filter beyond its grants. Stream administration (create, update,
//     delete, purge) is the operator's alone.
//   - Orderers answer requests (sync, query) through the server's response
//     permission: they may publish to a reply subject only after receiving
//     a request naming it, and only for ResponseTTL. No other role answers
//     anything.
//
// NATS wildcards match whole tokens only ("GBA_*" never matched
// "GBA_TX"), so every JetStream entry below names its stream.

// JetStream API subjects.
const (
	jsAPI        = "$JS.API."
	jsAck        = "$JS.ACK."
	JSAPIInfo    = jsAPI + "INFO"
	jsStreamInfo = jsAPI + "STREAM.INFO."
	jsConsCreate = jsAPI + "CONSUMER.CREATE."
	jsConsInfo   = jsAPI + "CONSUMER.INFO."
	jsConsDelete = jsAPI + "CONSUMER.DELETE."
	jsConsNext   = jsAPI + "CONSUMER.MSG.NEXT."
	jsMsgGet     = jsAPI + "STREAM.MSG.GET."
	jsDirectGet  = jsAPI + "DIRECT.GET."
)

// ResponseTTL is how long an orderer may answer a request it received: a
// sync reply streams up to 64 MiB of blocks in many messages, a commit
// wait on the query service lasts up to 30 s.
const ResponseTTL = 5 * time.Minute

// InboxPrefix is the reply-subject prefix of the identity with the given
// public NKey: "_INBOX_<public>". The key, not the name, makes the prefix,
// so a connection derives it from its credentials alone.
func InboxPrefix(public string) string { return "_INBOX_" + public }

// Permissions is what one identity may do on the bus.
type Permissions struct {
	Publish   []string // subjects it may publish to (requests included)
	Subscribe []string // subjects it may subscribe to
	// Respond: it may publish to the reply subject of a request it
	// received, any number of messages within ResponseTTL.
	Respond bool
}

// PermissionsOf returns the permissions of an identity.
func PermissionsOf(u *Identity) Permissions {
	inbox := InboxPrefix(u.Public) + ".>"
	switch u.Role {
	case RoleCity:
		// A gateway publishes batches to its own subject only, asks the
		// orderers' query service, checks GBA_TX for readiness, and reads
		// block headers.
		return Permissions{
			Publish:   []string{TxSubject(u.Member), subjectQuery + "*", JSAPIInfo, jsStreamInfo + StreamTx},
			Subscribe: []string{inbox, SubjectBlocks},
		}
	case RoleOrderer:
		c := OrdererConsumer(u.Member)
		return Permissions{
			// It reads the newest sealed header on GBA_BLOCKS (the
			// cluster's height, for readiness) and nothing else there.
			Publish: []string{subjectBFT + "*", subjectSync + "*", SubjectBlocks, SubjectProofs, JSAPIInfo,
				jsConsCreate + StreamTx + "." + c + "." + SubjectTxAll, jsConsInfo + StreamTx + "." + c,
				jsConsNext + StreamTx + "." + c, jsAck + StreamTx + "." + c + ".>",
				jsStreamInfo + StreamBlocks, jsMsgGet + StreamBlocks, jsDirectGet + StreamBlocks},
			Subscribe: []string{BFTSubject(u.Member), SyncSubject(u.Member), QuerySubject(u.Member), inbox, SubjectBlocks},
			Respond:   true,
		}
	case RoleService:
		return Permissions{
			Publish:   []string{subjectSync + "*", subjectQuery + "*", JSAPIInfo},
			Subscribe: []string{inbox, SubjectBlocks},
		}
	case RoleReader:
		p := Permissions{Publish: []string{JSAPIInfo}, Subscribe: []string{inbox}}
		for _, g := range u.Grants {
			for _, d := range ReaderDurables(u.Member, g) {
				p.Publish = append(p.Publish, jsConsCreate+StreamProofs+"."+d.Name+"."+d.Filter,
					jsConsInfo+StreamProofs+"."+d.Name, jsConsDelete+StreamProofs+"."+d.Name,
					jsConsNext+StreamProofs+"."+d.Name, jsAck+StreamProofs+"."+d.Name+".>")
			}
			if subjs, err := grantSubjects(g); err == nil {
				p.Subscribe = append(p.Subscribe, subjs...)
			}
		}
		return p
	case RoleOperator:
		return Permissions{Publish: []string{jsAPI + ">"}, Subscribe: []string{inbox}}
	}
	return Permissions{} // an unknown role may do nothing
}

// ReaderDurable is one durable GBA_PROOFS consumer a reader may own.
type ReaderDurable struct {
	// Name is "<reader>_<jur>_<kind>", e.g. "hk-bank_cn_business"; kind
	// "all" for a "<JUR>.*" grant; with "_personal" after it for a
	// personal grant's durable on the personal subject.
	Name   string
	Filter string // its filter subject, e.g. "gba.proofs.CN.business"
}

// proofKinds are the kind tokens of proof subjects (schemas.Kind.Short);
// a "<JUR>.*" grant gives a durable for each, and one for all.
var proofKinds = []string{"business", "certificate", "approval"}

// grantRe is keys' grant form (schemas/keys links no NATS code, and this
// package no key code): "<JUR>.<kind>" or "<JUR>.*", and either with
// ".personal" after it.
var grantRe = regexp.MustCompile(`^(CN|HK|MO)\.(\*|[a-z]+)(\.personal)?$`)

// grantSubjects are the proof subjects a grant covers: the grant's, and
// for a personal grant the personal one beside it.
func grantSubjects(grant string) ([]string, error) {
	m := grantRe.FindStringSubmatch(grant)
	if m == nil {
		return nil, fmt.Errorf("bus: grant %q: want <CN|HK|MO>.<kind> or <JUR>.*, optionally followed by .personal", grant)
	}
	out := []string{ProofSubject(m[1], m[2])}
	if m[3] != "" {
		out = append(out, PersonalProofSubject(m[1], m[2]))
	}
	return out, nil
}

// ReaderDurables returns the durables a grant gives a reader: one for the
// granted subject, and for a "<JUR>.*" grant one for each kind too; a
// personal grant gives the same again on the personal subjects. Reader
// names hold no '_', so durables of different readers never collide.
func ReaderDurables(reader, grant string) []ReaderDurable {
	m := grantRe.FindStringSubmatch(grant)
	if m == nil {
		return nil
	}
	jur, kind, personal := m[1], m[2], m[3] != ""
	d := func(kind string, personal bool) ReaderDurable {
		name := kind
		if kind == "*" {
			name = "all"
		}
		rd := ReaderDurable{Name: reader + "_" + strings.ToLower(jur) + "_" + name, Filter: ProofSubject(jur, kind)}
		if personal {
			rd.Name, rd.Filter = rd.Name+"_personal", PersonalProofSubject(jur, kind)
		}
		return rd
	}
	kinds := []string{kind}
	if kind == "*" {
		kinds = append(kinds, proofKinds...)
	}
	var out []ReaderDurable
	for _, k := range kinds {
		out = append(out, d(k, false))
	}
	if personal {
		for _, k := range kinds {
			out = append(out, d(k, true))
		}
	}
	return out
}

// ReaderDurableFor returns the durable through which a reader with grants
// reads proofs of jurisdiction jur and kind ("*" for all kinds), or false
// if no grant covers them.
func ReaderDurableFor(reader string, grants []string, jur, kind string) (ReaderDurable, bool) {
	return readerDurableOn(reader, grants, ProofSubject(jur, kind))
}

// ReaderPersonalDurableFor is ReaderDurableFor for the personal subject
// (PersonalProofSubject): only a personal grant covers it.
func ReaderPersonalDurableFor(reader string, grants []string, jur, kind string) (ReaderDurable, bool) {
	return readerDurableOn(reader, grants, PersonalProofSubject(jur, kind))
}

func readerDurableOn(reader string, grants []string, want string) (ReaderDurable, bool) {
	for _, g := range grants {
		if i := slices.IndexFunc(ReaderDurables(reader, g), func(d ReaderDurable) bool { return d.Filter == want }); i >= 0 {
			return ReaderDurables(reader, g)[i], true
		}
	}
	return ReaderDurable{}, false
}
