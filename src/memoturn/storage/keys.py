"""Where everything lives in the object store. One module, so the layout reads at a glance.

```
deployment/{name}.key                           deployment-wide secrets (token signing)
namespaces/{ns}.json                            a namespace exists
manifests/{ns}/{profile}/{branch}.json          one manifest per profile-branch (CAS)
catalog/{ns}/log/{seq:016d}.json                profiles created/deleted (create-if-absent)
catalog/{ns}/state.json                         the log folded up to some seq (a shortcut)
leases/{ns}--{profile}/{branch}.json            the writer lease of a branch (CAS)
profiles/{ns}--{profile}/token-epoch            tokens minted under an older epoch are revoked
data/{ns}--{profile}/{branch}/seg/{txid:016d}.{epoch}    one committed transaction
data/{ns}--{profile}/{branch}/snap/{txid:016d}.{epoch}   a full page image at txid
policies/{ns}/namespace.json                    a namespace's governance policy (CAS)
policies/{ns}/profiles/{profile}.json           a profile's policy override (CAS)
audit/{ns}/{node}/{seq:016d}.json               one batch of audit events of one node's chain
audit/{ns}/{node}/head.json                     that chain's signed head (CAS)
erasures/{ns}/{profile}/{id}.json               one erasure: its progress, then its receipt
```

Manifests sit apart from data so that listing a namespace's profiles reads only manifests.
Zero-padded txids keep listings in txid order.
"""

from __future__ import annotations


def deployment_secret(name: str) -> str:
    return f"deployment/{name}.key"


def namespace(ns: str) -> str:
    return f"namespaces/{ns}.json"


NAMESPACES_PREFIX = "namespaces/"


def manifest(db: str, branch: str) -> str:
    ns, profile = db.split("--", 1)
    return f"manifests/{ns}/{profile}/{branch}.json"


def profile_log(ns: str, seq: int) -> str:
    return f"catalog/{ns}/log/{seq:016d}.json"


def profile_log_state(ns: str) -> str:
    return f"catalog/{ns}/state.json"


def manifests_of_namespace(ns: str) -> str:
    return f"manifests/{ns}/"


def manifests_of_profile(db: str) -> str:
    ns, profile = db.split("--", 1)
    return f"manifests/{ns}/{profile}/"


def lease(db: str, branch: str) -> str:
    return f"leases/{db}/{branch}.json"


def token_epoch(db: str) -> str:
    return f"profiles/{db}/token-epoch"


def data_prefix(db: str) -> str:
    return f"data/{db}/"


def segment(db: str, branch: str, txid: int, epoch: int) -> str:
    return f"data/{db}/{branch}/seg/{txid:016d}.{epoch}"


def snapshot(db: str, branch: str, txid: int, epoch: int) -> str:
    return f"data/{db}/{branch}/snap/{txid:016d}.{epoch}"


def namespace_policy(ns: str) -> str:
    return f"policies/{ns}/namespace.json"


def profile_policy(ns: str, profile: str) -> str:
    return f"policies/{ns}/profiles/{profile}.json"


def audit_prefix(ns: str) -> str:
    return f"audit/{ns}/"


def audit_batch(ns: str, node: str, seq: int) -> str:
    return f"audit/{ns}/{node}/{seq:016d}.json"


def audit_head(ns: str, node: str) -> str:
    return f"audit/{ns}/{node}/head.json"


ERASURES_PREFIX = "erasures/"


def erasure(db: str, erasure_id: str) -> str:
    ns, profile = db.split("--", 1)
    return f"erasures/{ns}/{profile}/{erasure_id}.json"


def erasures_of_profile(db: str) -> str:
    ns, profile = db.split("--", 1)
    return f"erasures/{ns}/{profile}/"
