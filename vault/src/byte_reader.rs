//! Sequential reads over untrusted bytes, failing instead of panicking when
//! they run out.

/// The input ended before a field did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EndOfInput;

/// In the object header, running out means its length field lies.
impl From<EndOfInput> for crate::error::VaultError {
    fn from(_: EndOfInput) -> Self {
        crate::error::VaultError::MalformedHeader("length field does not match the header")
    }
}

/// In the keyring's contents.
impl From<EndOfInput> for &'static str {
    fn from(_: EndOfInput) -> Self {
        "ends early"
    }
}

pub(crate) struct ByteReader<'a> {
    rest: &'a [u8],
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        ByteReader { rest: bytes }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], EndOfInput> {
        if self.rest.len() < n {
            return Err(EndOfInput);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], EndOfInput> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, EndOfInput> {
        let [byte] = self.array::<1>()?;
        Ok(byte)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, EndOfInput> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}
