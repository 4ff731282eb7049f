//! The studio's demo show, apart from the studio: what it draws (the demo
//! catalog's products, whose logos are drawn in code, and the show around
//! them) and the 5x7 font it writes with.
//! The studio streams it; the detector's evaluation draws its scenes with
//! the same font and logos, without building the studio and the AWS SDKs
//! it brings.

pub mod demo;
pub mod font;
