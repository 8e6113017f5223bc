//! Closed enums spelled one way. `named_enum!` declares an enum from one table of
//! `Variant = "spelling"` rows and derives from it everything that needs the spelling: the
//! variant list, `name()`, `from_name()` and serde's `Deserialize`. The config file, the
//! importers' writer, the patch parser and error messages all read the same table, so a new
//! variant is one row, and the exhaustive `match`es elsewhere say what else must decide.

/// Declares `enum $name` with the given rows (see the module header). Variants are numbered
/// in table order, so `index()` is a position in `ALL`.
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
            /// How many variants there are (the size of a `PerName` map of them).
            pub const COUNT: usize = $name::ALL.len();

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

            /// The position in [`Self::ALL`].
            pub const fn index(self) -> usize {
                self as usize
            }
        }

        impl $crate::account::names::Named for $name {
            const ALL: &'static [$name] = $name::ALL;
            fn index(self) -> usize {
                self as usize
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

/// One value per variant of a `named_enum!` type `K`, indexed by it: what a domain, an
/// account or a patch holds for each server kind or URL service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerName<K, T, const N: usize> {
    values: [T; N],
    key: std::marker::PhantomData<K>,
}

/// The variant list and position of a `named_enum!` type, for [`PerName`].
pub trait Named: Copy + 'static {
    const ALL: &'static [Self];
    fn index(self) -> usize;
}

impl<K, T: Default, const N: usize> Default for PerName<K, T, N> {
    fn default() -> Self {
        PerName {
            values: std::array::from_fn(|_| T::default()),
            key: std::marker::PhantomData,
        }
    }
}

impl<K: Named, T, const N: usize> PerName<K, T, N> {
    /// The value of every variant, from `f`.
    pub fn from_fn(mut f: impl FnMut(K) -> T) -> Self {
        PerName {
            values: std::array::from_fn(|index| f(K::ALL[index])),
            key: std::marker::PhantomData,
        }
    }

    /// Each variant with its value, in table order.
    pub fn iter(&self) -> impl Iterator<Item = (K, &T)> {
        K::ALL.iter().copied().zip(&self.values)
    }

    /// The same keys with `f` applied to every value.
    pub fn map<U>(&self, mut f: impl FnMut(K, &T) -> U) -> PerName<K, U, N> {
        PerName::from_fn(|key| f(key, &self[key]))
    }
}

impl<K: Named, T, const N: usize> IntoIterator for PerName<K, T, N> {
    type Item = (K, T);
    type IntoIter =
        std::iter::Zip<std::iter::Copied<std::slice::Iter<'static, K>>, std::array::IntoIter<T, N>>;
    fn into_iter(self) -> Self::IntoIter {
        K::ALL.iter().copied().zip(self.values)
    }
}

impl<K: Named, T, const N: usize> std::ops::Index<K> for PerName<K, T, N> {
    type Output = T;
    fn index(&self, key: K) -> &T {
        &self.values[key.index()]
    }
}

impl<K: Named, T, const N: usize> std::ops::IndexMut<K> for PerName<K, T, N> {
    fn index_mut(&mut self, key: K) -> &mut T {
        &mut self.values[key.index()]
    }
}

#[cfg(test)]
mod tests {
    use crate::account::{AuthMethod, PerKind, Security, ServerKind};

    #[test]
    fn a_table_gives_names_parsing_positions_and_serde() {
        for (index, &method) in AuthMethod::ALL.iter().enumerate() {
            assert_eq!(method.index(), index);
            assert_eq!(AuthMethod::NAMES[index], method.name());
            assert_eq!(AuthMethod::from_name(method.name()), Some(method));
        }
        assert_eq!(AuthMethod::from_name("OAuth2"), None, "exact spelling only");
        let parsed: Vec<Security> = toml::from_str::<toml::Table>("s = [\"tls\", \"plain\"]")
            .unwrap()["s"]
            .clone()
            .try_into()
            .unwrap();
        assert_eq!(parsed, [Security::Tls, Security::Plain]);
        let error = toml::Value::String("ssl".into())
            .try_into::<Security>()
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("unknown variant `ssl`, expected one of `tls`, `starttls`, `plain`"),
            "{error}"
        );
    }

    #[test]
    fn per_name_maps_are_indexed_by_variant() {
        let mut ports: PerKind<u16> = PerKind::from_fn(|kind| match kind {
            ServerKind::Imap => 993,
            ServerKind::Pop3 => 995,
            ServerKind::Smtp => 465,
        });
        ports[ServerKind::Smtp] = 587;
        let listed: Vec<_> = ports
            .iter()
            .map(|(kind, port)| (kind.name(), *port))
            .collect();
        assert_eq!(listed, [("imap", 993), ("pop3", 995), ("smtp", 587)]);
        let doubled = ports.map(|_, port| u32::from(*port) * 2);
        assert_eq!(doubled[ServerKind::Pop3], 1990);
    }
}
