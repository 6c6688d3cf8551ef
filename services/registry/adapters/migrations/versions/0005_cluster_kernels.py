"""Cluster sessions: the session's cluster mode; each kernel's index, rank, host name, address.

Revision ID: 0005_cluster_kernels
Revises: 0004_outbox
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_cluster_kernels"
down_revision = "0004_outbox"
branch_labels = None
depends_on = None

S = "registry"


def upgrade() -> None:
    op.add_column(
        "sessions",
        sa.Column("cluster_mode", sa.String(16), nullable=False, server_default="SINGLE_NODE"),
        schema=S,
    )
    op.add_column(
        "kernels",
        sa.Column("cluster_idx", sa.Integer, nullable=False, server_default="1"),
        schema=S,
    )
    op.add_column(
        "kernels",
        sa.Column("local_rank", sa.Integer, nullable=False, server_default="0"),
        schema=S,
    )
    op.add_column(
        "kernels",
        sa.Column("cluster_hostname", sa.String(16), nullable=False, server_default="main1"),
        schema=S,
    )
    op.add_column(
        "kernels",
        sa.Column("cluster_address", sa.String(45), nullable=False, server_default=""),
        schema=S,
    )
    # Sub kernels made before this revision: number them within their session.
    op.execute(
        """
        UPDATE registry.kernels AS k SET cluster_idx = n.idx, local_rank = n.idx,
               cluster_hostname = 'sub' || n.idx
        FROM (SELECT id, row_number() OVER (PARTITION BY session_id ORDER BY id) AS idx
              FROM registry.kernels WHERE cluster_role = 'sub') AS n
        WHERE k.id = n.id
        """
    )


def downgrade() -> None:
    for column in ("cluster_address", "cluster_hostname", "local_rank", "cluster_idx"):
        op.drop_column("kernels", column, schema=S)
    op.drop_column("sessions", "cluster_mode", schema=S)
