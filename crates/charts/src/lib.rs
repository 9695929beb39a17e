//! charts: work in progress (see the open issue).
