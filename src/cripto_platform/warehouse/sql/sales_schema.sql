-- Sales warehouse (seed 001): catalogs and facts with their keys. Rebuilt in one transaction by the
-- ingestion pipeline (WarehouseSchemaDataset): drop, create, then COPY in dependency order.
DROP TABLE IF EXISTS sales_fact, point_of_sale_catalog, product_catalog, zone_catalog CASCADE;

CREATE TABLE zone_catalog (
    id_zona        text PRIMARY KEY,
    zona           text NOT NULL,
    region         text
);

CREATE TABLE product_catalog (
    id_producto     text PRIMARY KEY,
    nombre_producto text NOT NULL,
    sabor           text,
    categoria       text,
    precio_lista    double precision
);

CREATE TABLE point_of_sale_catalog (
    id_punto_venta  text PRIMARY KEY,
    nombre          text NOT NULL,
    id_zona         text NOT NULL REFERENCES zone_catalog (id_zona),
    tipo            text,
    fecha_alta      date
);

CREATE TABLE sales_fact (
    id_venta        bigint PRIMARY KEY,
    fecha           date NOT NULL,
    id_punto_venta  text NOT NULL REFERENCES point_of_sale_catalog (id_punto_venta),
    id_producto     text NOT NULL REFERENCES product_catalog (id_producto),
    unidades        bigint NOT NULL,
    monto           double precision NOT NULL,
    archivo_origen  text NOT NULL,          -- raw file of the version the row came from
    linea_origen    bigint                  -- its line in that file
);

CREATE INDEX sales_fact_fecha_idx ON sales_fact (fecha);
