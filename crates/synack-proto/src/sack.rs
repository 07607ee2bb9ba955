//! SACK sender scoreboard (being written).
