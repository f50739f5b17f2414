// Intentionally empty: the target is its header (include/CEpoll.h); SwiftPM wants one source.
