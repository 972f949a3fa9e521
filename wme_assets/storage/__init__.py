"""Object storage: one S3 code path for the embedded SeaweedFS and for production S3."""

from __future__ import annotations

from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY, Settings
from wme_assets.storage.object_store import ObjectStore, ObjectStoreError, PublishedObject, VerificationError

__all__ = [
    "ObjectStore",
    "ObjectStoreError",
    "PublishedObject",
    "VerificationError",
    "open_object_store",
]


def open_object_store(settings: Settings, *, check: bool = True) -> ObjectStore:
    """The configured store; with no endpoint configured, the embedded SeaweedFS (started if needed)."""
    if settings.embedded_s3:
        from wme_assets.storage.seaweedfs import ensure_embedded_s3

        server = ensure_embedded_s3(settings.home_dir, s3_port=settings.embedded_s3_port)
        store = ObjectStore(
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=server.endpoint_url,
            region=settings.s3_region,
            access_key=EMBEDDED_ACCESS_KEY,
            secret_key=EMBEDDED_SECRET_KEY,
        )
        create = True if settings.s3_create_bucket is None else settings.s3_create_bucket
    else:
        settings.require_s3_credentials()
        # Credentials come from boto3's own chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile or a role.
        store = ObjectStore(
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
        create = bool(settings.s3_create_bucket)
    if check:
        store.check_bucket(create=create)
    return store
