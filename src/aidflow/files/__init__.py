"""Files in and out: the one table reader (CSV/XLSX/XLS), ledgers and bank files."""
