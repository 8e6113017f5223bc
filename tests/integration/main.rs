//! The one integration-test binary. Each module covers one surface; `support` starts the real
//! server on an ephemeral port and runs the external validators (xmllint, openssl, Chromium).

// Tests fail loudly on any unexpected error; unwrap/expect are the point here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod acme;
mod architecture;
mod autoconfig;
mod autodiscover;
mod automx2;
mod backend_checks;
mod backends;
mod cli;
mod connections;
mod docs;
mod doctor;
mod exchangelib;
mod fast_lane;
mod fuzz_corpus;
mod hostile;
mod import;
mod limits;
mod limits_redis;
mod metrics;
mod mobileconfig;
mod pacc;
mod packaging;
mod redirects;
mod running;
mod services;
mod signing;
mod standalone;
mod support;
mod thunderbird;
mod tls;
mod vendored;
mod webform;
