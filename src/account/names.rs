//! Closed enums spelled one way. [`named_enum!`] declares an enum from one table of
//! `Variant = "spelling"` rows and derives from it everything that needs the spelling: the
//! variant list, `name()`, `from_name()` and serde's `Deserialize`. The config file, the
//! importers' writer, the patch parser and error messages all read the same table, so a new
//! variant is one row, and the exhaustive `match`es elsewhere say what else must decide.

/// Declares `enum $name` with the given rows (see the module header).
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $spelling:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every variant, in table order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every spelling, in table order.
            pub const NAMES: &'static [&'static str] = &[$($spelling),+];

            /// The spelling: config keys and values, the importers' output, messages.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $spelling,)+
                }
            }

            /// The variant spelled exactly `text`.
            pub fn from_name(text: &str) -> Option<Self> {
                match text {
                    $($spelling => Some($name::$variant),)+
                    _ => None,
                }
            }

        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Names;
                impl ::serde::de::Visitor<'_> for Names {
                    type Value = $name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        write!(f, "one of {}", $name::NAMES.join(", "))
                    }
                    fn visit_str<E: ::serde::de::Error>(self, text: &str) -> Result<$name, E> {
                        $name::from_name(text).ok_or_else(|| E::unknown_variant(text, $name::NAMES))
                    }
                }
                deserializer.deserialize_str(Names)
            }
        }
    };
}

pub(crate) use named_enum;
