//! [`Tracked`]: a part of the fold state that remembers whether it may have
//! changed, so the keep-going fold can tell a failed event that changed
//! nothing from one whose changes must be rolled back.
//!
//! A wrapper only: it never decides anything about the value it holds.

use serde::{Deserialize, Serialize};

/// A part of the fold state that records whether it may have changed since
/// [`Reducer::clear_changes`](super::Reducer::clear_changes): the keep-going
/// fold's test of whether a failed event changed anything. A mutable borrow (`DerefMut`) counts even if nothing
/// is written, and a value made by `new` or `Default` counts as changed, so
/// swapping the field out (`std::mem::take`) counts too. What it cannot see:
/// interior mutability (the state has none) and a value moved from one field
/// into another of the same type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Tracked<T> {
    value: T,
    #[serde(skip)]
    changed: bool,
}

impl<T> Tracked<T> {
    pub(super) fn new(value: T) -> Tracked<T> {
        Tracked {
            value,
            changed: true,
        }
    }

    pub(super) fn into_inner(self) -> T {
        self.value
    }

    /// The change mark itself (see [`Tracked`]), for the keep-going fold to
    /// clear and read.
    pub(super) fn change_mark(&mut self) -> &mut bool {
        &mut self.changed
    }
}

impl<T: Default> Default for Tracked<T> {
    fn default() -> Tracked<T> {
        Tracked::new(T::default())
    }
}

impl<T> std::ops::Deref for Tracked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> std::ops::DerefMut for Tracked<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.changed = true;
        &mut self.value
    }
}

impl<T: IntoIterator> IntoIterator for Tracked<T> {
    type Item = T::Item;
    type IntoIter = T::IntoIter;
    fn into_iter(self) -> T::IntoIter {
        self.value.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a Tracked<T>
where
    &'a T: IntoIterator,
{
    type Item = <&'a T as IntoIterator>::Item;
    type IntoIter = <&'a T as IntoIterator>::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        (&self.value).into_iter()
    }
}

impl<'a, T> IntoIterator for &'a mut Tracked<T>
where
    &'a mut T: IntoIterator,
{
    type Item = <&'a mut T as IntoIterator>::Item;
    type IntoIter = <&'a mut T as IntoIterator>::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        self.changed = true;
        (&mut self.value).into_iter()
    }
}
