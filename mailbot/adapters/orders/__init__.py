"""Order sources behind the `OrderSource` port: where purchases are read from."""
