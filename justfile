# flux-rs tasks; each recipe is a thin wrapper over a script or a cargo command.

# The demo of the README's quick start.
demo:
    scripts/demo.sh

# Everything CI runs: fmt, clippy, unit, integration and end-to-end tests.
test:
    scripts/test.sh

# Regenerate crds/*.yaml from the Rust API types.
crds:
    cargo run --locked -q -p api --bin crdgen -- crds

# Install the real tools the tests run against (registry, skopeo, etcd, kubectl, ...).
deps:
    scripts/install-deps.sh

# Push/pull benchmark against tar|gzip|curl pipelines and skopeo; writes BENCHMARKS.md.
bench-artifacts:
    scripts/bench-artifacts.sh

# Start the local control plane (etcd, kube-apiserver, kube-controller-manager v1.20.2).
cluster-up:
    scripts/cluster.sh up

# Stop the local control plane and every process it started.
cluster-down:
    scripts/cluster.sh down

# The e2e suite against a kind cluster (kind-config.yaml); needs docker and kind.
e2e-kind:
    scripts/e2e-kind.sh

# source-controller with 1000 OCIRepositories on the local control plane; writes BENCHMARKS.md.
bench-sources:
    scripts/bench-sources.sh

# notification-controller throughput, dispatch latency and RSS; writes BENCHMARKS.md.
bench-notifications:
    scripts/bench-notifications.sh

# flux-rs kustomize build vs kubectl kustomize on a 4000-object overlay; writes BENCHMARKS.md.
bench-build:
    scripts/bench-build.sh

# helm template: every real-world and corpus chart, flux-rs vs helm v4.1.4; writes BENCHMARKS.md.
bench-helm:
    scripts/bench-helm.sh

# kustomize-controller: 1000 Kustomizations, and 1500 objects vs kubectl; writes BENCHMARKS.md.
bench-kustomizations:
    scripts/bench-kustomizations.sh

# helm-controller: 100 HelmReleases vs a helm upgrade --install loop, and 1000; writes BENCHMARKS.md.
bench-helmreleases:
    scripts/bench-helmreleases.sh

# source-controller: a large Git repository vs git clone + tar, and 500 GitRepositories; writes BENCHMARKS.md.
bench-git:
    scripts/bench-git.sh

# image-reflector-controller: 100 ImageRepositories of 2,000 tags and their policies vs skopeo list-tags; writes BENCHMARKS.md.
bench-images:
    scripts/bench-images.sh

# Container images flux-rs/<controller>:<version>, FROM scratch (nothing is pulled).
images:
    scripts/images.sh
