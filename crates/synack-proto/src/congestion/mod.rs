//! Congestion control behind one trait (being written).
