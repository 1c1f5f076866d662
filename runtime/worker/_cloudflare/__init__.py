"""The local runtime's `_cloudflare` package: the runtime-internal modules that production
workerd writes into Pyodide's site-packages and the `workers-runtime-sdk` imports.

The SDK's `_workers_sdk_patch_loader.pth` loads its package patches (anyio's `to_thread` run
inline, entropy budgets for Rust packages, `ssl` hidden from `requests`, ...) only when this
package exists. These modules give it the same import-time behaviour as production
(`import_patch_manager`), with no-op entropy budgets where the local runtime has no snapshot
(`allow_entropy`); `lifecycle` holds the two calls the host makes around the main module's import.
pyodide-worker.mjs writes them into site-packages, never into the Worker's python_modules/.
"""
