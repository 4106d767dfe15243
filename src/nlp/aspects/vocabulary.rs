//! Words that name what customer feedback judges across trades (delivery, refund, the agent,
//! the app, fees), French and English, folded as the tagger folds words.
//!
//! The tagger learns from restaurant reviews, whose terms are dishes and waiters; this list is
//! one feature among its others (a word in it, or beside one), whose weight training learns
//! from the list's words that restaurant reviews do use (service, staff, price, quality), so
//! that the words they never use (livraison, refund) are tagged too.

/// Folded words (accents removed, lower case), sorted for binary search. Words that are as often
/// verbs or turns of phrase (`order`, `return`, `call`, `rapport`, `experience`) are left out.
const WORDS: [&str; 101] = [
    "abonnement",
    "account",
    "accueil",
    "agence",
    "agent",
    "agents",
    "app",
    "appli",
    "application",
    "article",
    "articles",
    "assurance",
    "attente",
    "billing",
    "booking",
    "caisse",
    "carte",
    "checkout",
    "colis",
    "commande",
    "commandes",
    "communication",
    "compte",
    "conseiller",
    "conseillere",
    "conseillers",
    "contrat",
    "courier",
    "customer",
    "delai",
    "delais",
    "delivery",
    "emballage",
    "equipe",
    "facturation",
    "facture",
    "fees",
    "frais",
    "garantie",
    "hotline",
    "installation",
    "interface",
    "invoice",
    "item",
    "items",
    "livraison",
    "livraisons",
    "livreur",
    "login",
    "magasin",
    "manager",
    "menu",
    "offre",
    "package",
    "packaging",
    "paiement",
    "parcel",
    "payment",
    "personnel",
    "price",
    "prices",
    "pricing",
    "prix",
    "product",
    "products",
    "produit",
    "produits",
    "qualite",
    "quality",
    "reclamation",
    "refund",
    "remboursement",
    "reparation",
    "replacement",
    "reservation",
    "retour",
    "retours",
    "sav",
    "seller",
    "service",
    "services",
    "shipping",
    "site",
    "staff",
    "stock",
    "subscription",
    "suivi",
    "support",
    "taille",
    "tarif",
    "tarifs",
    "team",
    "technicien",
    "telephone",
    "tracking",
    "transporteur",
    "vendeur",
    "vendeurs",
    "warranty",
    "website",
    "wifi",
];

/// The folded word names something customer feedback judges.
pub fn is_customer_aspect(folded: &str) -> bool {
    WORDS.binary_search(&folded).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_folded() {
        assert!(WORDS.windows(2).all(|w| w[0] < w[1]), "unsorted or repeated");
        assert!(WORDS.iter().all(|w| w.chars().all(|c| c.is_ascii_lowercase())));
        assert!(is_customer_aspect("livraison") && !is_customer_aspect("bien"));
    }
}
