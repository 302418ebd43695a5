"""Support API (`/api/v1/customers/`, `/api/v1/trips/`): list and detail reads with django-filter filters, in the
same scope as the record pages (``support.records.customers_for`` / ``trips_for``). Phone and ID numbers are
masked in lists, and in details unless the caller revealed them for that customer (``support.privacy``).
Amounts are integer fen, like the invoicing API."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from rest_framework import mixins, serializers, viewsets

from invoicing.models import BuyerTitle, CardBinding, Customer
from piaogen.access import ALL_ROLES
from piaogen.identifiers import mask_id_number, mask_phone
from piaogen.models import User
from support.filters import CustomerFilter, TripFilter
from support.privacy import pii_revealed
from support.records import customers_for, segments_for, trips_for
from tolling.models import Segment, Trip


def _user(request: Any) -> User:
    assert isinstance(request.user, User)
    return request.user


class CardBindingSerializer(serializers.ModelSerializer[CardBinding]):
    class Meta:
        model = CardBinding
        fields = ["card_no", "bound_at", "unbound_at"]
        read_only_fields = fields


class BuyerTitleSerializer(serializers.ModelSerializer[BuyerTitle]):
    class Meta:
        model = BuyerTitle
        fields = ["id", "card_no", "kind", "name", "tax_id", "valid_from"]
        read_only_fields = fields


class CustomerSerializer(serializers.ModelSerializer[Customer]):
    phone = serializers.SerializerMethodField()
    id_no = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = ["id", "kind", "name", "phone", "id_type", "id_no", "province", "created_at"]
        read_only_fields = fields

    def _revealed(self, customer: Customer) -> bool:
        return bool(self.context.get("reveal")) and pii_revealed(user=_user(self.context["request"]), customer=customer)

    def get_phone(self, customer: Customer) -> str:
        return customer.phone if self._revealed(customer) else mask_phone(customer.phone)

    def get_id_no(self, customer: Customer) -> str:
        return customer.id_no if self._revealed(customer) else mask_id_number(customer.id_no)


class CustomerDetailSerializer(CustomerSerializer):
    bindings = CardBindingSerializer(many=True, read_only=True)
    titles = BuyerTitleSerializer(many=True, read_only=True)

    class Meta(CustomerSerializer.Meta):
        fields = [*CustomerSerializer.Meta.fields, "bindings", "titles"]
        read_only_fields = fields


class CustomerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Customer]):
    """Customer accounts (票根 users) with their card bindings and buyer title versions; PII masked."""

    queryset = Customer.objects.none()  # the schema's type of `id`; requests use get_queryset
    filterset_class = CustomerFilter
    allowed_roles = ALL_ROLES

    def get_queryset(self) -> QuerySet[Customer]:
        customers = customers_for(_user(self.request)).order_by("-pk")
        if self.action == "retrieve":
            return customers.prefetch_related(
                Prefetch("bindings", queryset=CardBinding.objects.order_by("-bound_at")),
                Prefetch("titles", queryset=BuyerTitle.objects.order_by("card_no", "-valid_from")),
            )
        return customers

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Customer]]:
        return CustomerDetailSerializer if self.action == "retrieve" else CustomerSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "reveal": self.action == "retrieve"}


class SegmentSerializer(serializers.ModelSerializer[Segment]):
    toll_unit = serializers.SlugRelatedField(read_only=True, slug_field="code")  # type: ignore[var-annotated]

    class Meta:
        model = Segment
        fields = [
            "id",
            "segment_no",
            "toll_unit",
            "province",
            "entry_time",
            "exit_time",
            "entry_station",
            "exit_station",
            "pay_fee",
            "discount_fee",
            "fee",
            "service_date",
        ]
        read_only_fields = fields


class TripSerializer(serializers.ModelSerializer[Trip]):
    class Meta:
        model = Trip
        fields = [
            "id",
            "pass_id",
            "card_no",
            "card_type",
            "plate",
            "plate_color",
            "vehicle_class",
            "entry_time",
            "exit_time",
            "service_date",
        ]
        read_only_fields = fields


class TripDetailSerializer(TripSerializer):
    segments = serializers.SerializerMethodField()

    class Meta(TripSerializer.Meta):
        fields = [*TripSerializer.Meta.fields, "segments"]
        read_only_fields = fields

    def get_segments(self, trip: Trip) -> list[dict[str, Any]]:
        """The trip's segments the caller may see (a province user: their province's toll units only)."""
        segments = segments_for(_user(self.context["request"])).filter(pass_id=trip.pass_id).order_by("segment_no")
        return list(SegmentSerializer(segments.select_related("toll_unit"), many=True).data)


class TripViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Trip]):
    """Trips (通行) with their segments and 应收/优惠/实收 per segment (fen)."""

    queryset = Trip.objects.none()
    filterset_class = TripFilter
    allowed_roles = ALL_ROLES

    def get_queryset(self) -> QuerySet[Trip]:
        # newest first by primary key: no sort over the table (trips have no service-date index of their own)
        return trips_for(_user(self.request)).order_by("-pk")

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Trip]]:
        return TripDetailSerializer if self.action == "retrieve" else TripSerializer
