"""What the portal's pages show, as plain data: one module per page (rows for tables, labels, forms, formatting),
and `common` for what every page shows alike.

Pages lay out widgets from these and act through `portal.usecases`; the core (`portal`) never imports this package.
"""
