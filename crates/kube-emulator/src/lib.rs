//! kube-emulator: work in progress (see the open issue).
