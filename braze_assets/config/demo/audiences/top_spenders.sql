-- The top 5% of emailable customers by 12-month revenue. Braze receives a band, not the amount,
-- so the profile changes only when a customer moves between bands.
WITH ranked AS (
    SELECT customer_id,
           percent_rank() OVER (ORDER BY l12m_order_revenue DESC) AS spend_rank
    FROM customer_attribute_source
    WHERE l12m_order_revenue > 0
      AND email IS NOT NULL
)
SELECT customer_id,
       CASE WHEN spend_rank < 0.01 THEN 'top_1_percent' ELSE 'top_5_percent' END AS top_spender_band
FROM ranked
WHERE spend_rank < 0.05
