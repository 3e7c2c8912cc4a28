"""Docker cannot run here: check the compose file's shape instead."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_has_the_production_services_wired_by_health():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"postgres", "redis", "migrate", "builder", "store", "worker"}
    assert services["postgres"]["image"].startswith("pgvector/pgvector")
    assert services["redis"]["image"].startswith("redis:7")
    assert "--appendonly" in services["redis"]["command"]
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"]
    assert services["migrate"]["command"] == ["gptstore", "db", "upgrade"]
    for name in ("builder", "store", "worker"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["environment"]["GPTSTORE_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "--service" in services["builder"]["command"] and "builder" in services["builder"]["command"]
    assert services["worker"]["command"] == ["gptstore", "worker"]
    assert (ROOT / "Dockerfile").exists()


def test_compose_keeps_uploads_in_minio_so_services_share_no_volume():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["minio"]["image"].startswith("minio/minio")
    assert services["minio"]["healthcheck"]["test"]
    init = " ".join(services["minio-init"]["command"])
    assert "mc mb --ignore-existing local/gptstore" in init
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    for name in ("builder", "store", "worker"):
        environment = services[name]["environment"]
        assert environment["GPTSTORE_STORAGE_URL"] == "s3://gptstore/uploads"
        assert environment["GPTSTORE_STORAGE_ENDPOINT"] == "http://minio:9000"
        assert services[name]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
        assert not services[name].get("volumes")  # nothing shared on disk: one machine each is possible
