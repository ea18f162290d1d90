//! Payload bodies in object storage, under their BLAKE3 address.
//!
//! A payload travels as content-defined chunks (the store's own chunker)
//! and a recipe naming them, so a chunk two payloads (or two workers) share
//! is uploaded once:
//!
//! - `chunks/{h[0..2]}/{h}`: the chunk's bytes, zstd-compressed; `h` is the
//!   BLAKE3 of the uncompressed bytes.
//! - `recipes/{h[0..2]}/{h}`: a payload's recipe as JSON, `{"size_bytes",
//!   "chunks": [hex, ...]}`; `h` is the payload's BLAKE3.
//!
//! The two-hex-digit prefix spreads keys over 256 prefixes (S3 scales
//! request rates per prefix). Uploads are create-only (`If-None-Match: *`):
//! of two workers racing on one chunk, one uploads it and the other learns
//! it exists, so every object is written once.

use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{Error, Result};
use crate::event::Hash;

/// Where payload bodies go: an S3-compatible bucket or a local directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectTarget {
    /// An S3-compatible endpoint (`http://127.0.0.1:8333`) and bucket.
    S3 {
        /// The endpoint URL.
        endpoint: String,
        /// The bucket (created when missing).
        bucket: String,
    },
    /// A directory on this machine (`file:///srv/tracefold-objects`), for
    /// users without S3.
    Local(std::path::PathBuf),
}

impl ObjectTarget {
    /// Parses `--s3 URL [--bucket B]`: `file://` URLs are local directories,
    /// `http://` and `https://` S3 endpoints.
    pub fn parse(url: &str, bucket: &str) -> Result<ObjectTarget> {
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(Error::input(url, "a file:// URL needs an absolute path"));
            }
            return Ok(ObjectTarget::Local(path.into()));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::input(
                url,
                "not an object store URL: http(s)://host:port for S3, file:///dir for a directory",
            ));
        }
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid {
            return Err(Error::input(
                bucket,
                "not an S3 bucket name (3 to 63 lower-case letters, digits, '-' and '.')",
            ));
        }
        Ok(ObjectTarget::S3 {
            endpoint: url.trim_end_matches('/').to_string(),
            bucket: bucket.to_string(),
        })
    }

    /// How the target is named in messages and state keys.
    pub fn describe(&self) -> String {
        match self {
            ObjectTarget::S3 { endpoint, bucket } => format!("{endpoint}/{bucket}"),
            ObjectTarget::Local(path) => format!("file://{}", path.display()),
        }
    }
}

/// A connected object store.
#[derive(Clone)]
pub(crate) struct Objects {
    inner: Arc<dyn ObjectStore>,
    target: ObjectTarget,
}

/// Whether a create-only upload wrote the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Put {
    Uploaded,
    Existed,
}

pub(crate) fn chunk_path(hash: &Hash) -> ObjectPath {
    let hex = hash.to_hex();
    ObjectPath::from(format!("chunks/{}/{hex}", &hex[..2]))
}

pub(crate) fn recipe_path(hash: &Hash) -> ObjectPath {
    let hex = hash.to_hex();
    ObjectPath::from(format!("recipes/{}/{hex}", &hex[..2]))
}

impl Objects {
    /// Connects (and for S3 creates the bucket when missing).
    pub(crate) async fn connect(target: &ObjectTarget) -> Result<Objects> {
        let inner: Arc<dyn ObjectStore> = match target {
            ObjectTarget::Local(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|err| Error::io(format!("create {}", dir.display()), err))?;
                Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(|err| {
                    Error::Other(format!("object directory {}: {err}", dir.display()))
                })?)
            }
            ObjectTarget::S3 { endpoint, bucket } => {
                create_bucket(endpoint, bucket).await?;
                let env = |key: &str, default: &str| {
                    std::env::var(key).unwrap_or_else(|_| default.to_string())
                };
                let s3 = AmazonS3Builder::new()
                    .with_endpoint(endpoint)
                    .with_bucket_name(bucket)
                    .with_region(env("AWS_REGION", "us-east-1"))
                    .with_access_key_id(env("AWS_ACCESS_KEY_ID", "tracefold"))
                    .with_secret_access_key(env("AWS_SECRET_ACCESS_KEY", "tracefold"))
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_virtual_hosted_style_request(false)
                    .with_conditional_put(S3ConditionalPut::ETagMatch)
                    .build()
                    .map_err(|err| Error::Other(format!("S3 {endpoint}/{bucket}: {err}")))?;
                Arc::new(s3)
            }
        };
        Ok(Objects {
            inner,
            target: target.clone(),
        })
    }

    fn fail(&self, what: &str, path: &ObjectPath, err: object_store::Error) -> Error {
        Error::Other(format!("{what} {}/{path}: {err}", self.target.describe()))
    }

    /// Whether the object exists.
    pub(crate) async fn exists(&self, path: &ObjectPath) -> Result<bool> {
        match self.inner.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(err) => Err(self.fail("HEAD", path, err)),
        }
    }

    /// Uploads `bytes` unless the object exists (create-only).
    pub(crate) async fn put_new(&self, path: &ObjectPath, bytes: Bytes) -> Result<Put> {
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .inner
            .put_opts(path, PutPayload::from_bytes(bytes), options)
            .await
        {
            Ok(_) => Ok(Put::Uploaded),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(Put::Existed),
            Err(err) => Err(self.fail("PUT", path, err)),
        }
    }

    /// The object's bytes.
    pub(crate) async fn get(&self, path: &ObjectPath) -> Result<Bytes> {
        let got = self
            .inner
            .get(path)
            .await
            .map_err(|err| self.fail("GET", path, err))?;
        got.bytes().await.map_err(|err| self.fail("GET", path, err))
    }
}

/// Creates `bucket` at an S3 endpoint when it is missing (an unsigned
/// `PUT /bucket`, which SeaweedFS and MinIO without access control accept;
/// with access control, create the bucket beforehand).
async fn create_bucket(endpoint: &str, bucket: &str) -> Result<()> {
    let url = format!("{endpoint}/{bucket}");
    let endpoint = endpoint.to_string();
    let bucket = bucket.to_string();
    tokio::task::spawn_blocking(move || {
        let agent = ureq_agent();
        match agent.head(&url).call() {
            Ok(_) => return Ok(()),
            Err(ureq::Error::StatusCode(404)) => {}
            Err(err) => {
                return Err(Error::Other(format!(
                    "S3 {endpoint}: cannot reach bucket {bucket}: {err}"
                )));
            }
        }
        match agent.put(&url).send_empty() {
            Ok(_) | Err(ureq::Error::StatusCode(409)) => Ok(()),
            Err(err) => Err(Error::Other(format!(
                "S3 {endpoint}: cannot create bucket {bucket}: {err} (create it beforehand)"
            ))),
        }
    })
    .await
    .map_err(|err| Error::Other(format!("bucket check: {err}")))?
}

fn ureq_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .http_status_as_error(true)
        .build()
        .into()
}
